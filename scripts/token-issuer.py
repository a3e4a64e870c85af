#!/usr/bin/env python3
"""The token endpoint of the registry's `auth: token` flow, for ferry's tests.

usage: token-issuer.py KEY CERT USER PASSWORD PORTFILE [LIFETIME]

GET /token?service=…&scope=repository:NAME:pull,push… with Basic USER:PASSWORD (or a POST with
grant_type=password/refresh_token) answers {"token", "access_token", "expires_in"}: a JWT signed
RS256 with KEY (through openssl), its certificate CERT in the `x5c` header, granting every
action asked for. Wrong or missing credentials get 401. Listens on a free port of 127.0.0.1
and writes it to PORTFILE.
"""
import base64, http.server, json, os, subprocess, sys, time, urllib.parse, uuid

key, cert, user, password, portfile = sys.argv[1:6]
lifetime = int(sys.argv[6]) if len(sys.argv) > 6 else 300
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], capture_output=True, check=True).stdout


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(service, scopes, subject):
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    now = int(time.time())
    access = []
    for scope in scopes:
        parts = scope.split(":")
        if len(parts) >= 3:
            access.append({"type": parts[0], "name": ":".join(parts[1:-1]), "actions": parts[-1].split(",")})
    claims = {"iss": "ferry-test-issuer", "sub": subject, "aud": service, "exp": now + lifetime, "nbf": now - 10,
              "iat": now, "jti": str(uuid.uuid4()), "access": access}
    signing = (b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())).encode()
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing, capture_output=True, check=True).stdout
    return signing.decode() + "." + b64(signature)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def grant(self, query, authorized):
        if not authorized:
            return self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "wrong user or password"}]})
        issued = token(query.get("service", [""])[0], query.get("scope", []), user)
        self.reply(200, {"token": issued, "access_token": issued, "expires_in": lifetime})

    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        expected = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        self.grant(query, self.headers.get("Authorization") == expected)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        ok = (form.get("username", [""])[0] == user and form.get("password", [""])[0] == password) or \
             form.get("refresh_token", [""])[0] == "refresh-" + password
        self.grant(form, ok)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
