#!/usr/bin/env python3
"""A read-only registry over an OCI layout that misbehaves on purpose, for ferry's fault tests.

usage: fault-registry.py LAYOUT PORTFILE LOGFILE

Serves the layout's manifests (by tag and digest) and blobs under any repository name; the
repository's first component picks a behaviour:
  good/...       as the spec says
  lying/...      a manifest GET comes with a Docker-Content-Digest that is not its own (HEAD
                 names none)
  corrupt/...    blobs come with one byte changed
  dropping/...   a blob GET without Range sends half the bytes and closes the connection; a GET
                 with Range answers 206 with the rest
  flaky/...      every first request for a path answers 503
  throttled/...  every first request for a path answers 429 with Retry-After: 1
  slow/...       blobs come 64 KiB every 50 ms (a copy that is still running when a test signals it)
  silent/...     every request is read and never answered (a registry that hangs)
  schema1/...    manifests are answered as Docker schema 1
  expiring/...   needs a Bearer token from this server's /token; each token is good for three
                 requests only, then the registry answers 401 with a new challenge (a token that
                 runs out in the middle of a pull)
  redirecting/...  a blob GET answers 307 to the same blob under good/ on `localhost` (another
                 host name for this server), as a registry on S3 redirects to a presigned URL
  resumable/...  takes pushes, keeping them in memory: uploads as the spec says (POST, PATCH with
                 Content-Range, GET status with Range, PUT ?digest= that checks the bytes); the
                 first PATCH this server sees is cut off after half its body, what arrived kept;
                 a new session asks for chunks of at least 6 MiB (OCI-Chunk-Min-Length)
Writes the port it listens on (127.0.0.1, a free one) to PORTFILE and one line per request
(`METHOD PATH RANGE auth=SCHEME|-`, and `bytes=N` received for a PATCH) to LOGFILE, the host
the request named first: `HOST METHOD PATH …`.
"""
import hashlib, http.server, json, os, sys, threading, time, uuid

layout, portfile, logfile = sys.argv[1:4]
index = json.load(open(os.path.join(layout, "index.json")))
tags = {m.get("annotations", {}).get("org.opencontainers.image.ref.name"): m for m in index["manifests"]}
seen = set()
uploads = {}   # session -> bytearray
pushed = {}    # digest -> bytes (blobs and manifests pushed to resumable/)
tagged = {}    # tag -> digest
cut = {"done": False}
tokens = {}    # expiring/: token -> requests left
lock = threading.Lock()


def blob(digest):
    if digest in pushed:
        return pushed[digest]
    algorithm, hex_ = digest.split(":", 1)
    path = os.path.join(layout, "blobs", algorithm, hex_)
    return open(path, "rb").read() if os.path.isfile(path) else None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_request_line(self, extra=""):
        auth = (self.headers.get("Authorization") or "-").split(" ")[0]
        with open(logfile, "a") as log:
            log.write("%s %s %s %s auth=%s%s\n" % (self.headers.get("Host", "-").split(":")[0], self.command, self.path,
                                                  self.headers.get("Range", "-"), auth, extra))

    def upload(self, parts):
        """resumable/: the upload endpoints."""
        base = "/v2/" + "/".join(parts[2:parts.index("blobs")]) + "/blobs/uploads/"
        session = parts[-1]
        if self.command == "POST":
            session = str(uuid.uuid4())
            uploads[session] = bytearray()
            self.log_request_line()
            return self.answer(202, b"", [("Location", base + session), ("Range", "0-0"), ("OCI-Chunk-Min-Length", str(6 << 20))])
        if session not in uploads:
            self.log_request_line()
            return self.answer(404, b'{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"unknown upload"}]}')
        data = uploads[session]
        if self.command == "GET":
            self.log_request_line()
            return self.answer(204, b"", [("Location", base + session), ("Range", "0-%d" % max(0, len(data) - 1))])
        if self.command == "PATCH":
            start = int(self.headers.get("Content-Range", "0-0").split("-")[0])
            length = int(self.headers.get("Content-Length", "0"))
            if start != len(data):
                self.rfile.read(length)
                self.log_request_line(" bytes=0")
                return self.answer(416, b'{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"out of order"}]}')
            with lock:
                cutting = not cut["done"]
                cut["done"] = True
            if cutting:
                data += self.rfile.read(length // 2)
                self.log_request_line(" bytes=%d" % (length // 2))
                self.close_connection = True
                self.connection.shutdown(2)
                return
            data += self.rfile.read(length)
            self.log_request_line(" bytes=%d" % length)
            return self.answer(202, b"", [("Location", base + session), ("Range", "0-%d" % (len(data) - 1))])
        if self.command == "PUT":
            query = dict(q.split("=", 1) for q in self.path.split("?", 1)[1].split("&")) if "?" in self.path else {}
            length = int(self.headers.get("Content-Length", "0"))
            data += self.rfile.read(length)
            self.log_request_line(" bytes=%d" % length)
            digest = query.get("digest", "").replace("%3A", ":")
            if "sha256:" + hashlib.sha256(bytes(data)).hexdigest() != digest:
                return self.answer(400, b'{"errors":[{"code":"DIGEST_INVALID","message":"digest mismatch"}]}')
            pushed[digest] = bytes(data)
            del uploads[session]
            return self.answer(201, b"", [("Docker-Content-Digest", digest)])
        return self.answer(405)

    def serve(self):
        parts = self.path.split("?")[0].split("/")
        if parts[1] == "token":
            with lock:
                token = "tok-%d" % (len(tokens) + 1)
                tokens[token] = 3
            self.log_request_line(" issued=" + token)
            body = json.dumps({"token": token, "expires_in": 300}).encode()
            return self.answer(200, body, [("Content-Type", "application/json")])
        if len(parts) > 2 and parts[2] == "expiring":
            given = (self.headers.get("Authorization") or "").replace("Bearer ", "")
            with lock:
                good = tokens.get(given, 0) > 0
                if good:
                    tokens[given] -= 1
            if not good:
                self.log_request_line(" refused")
                challenge = 'Bearer realm="http://127.0.0.1:%d/token",service="fault",scope="repository:expiring/app:pull"' % self.server.server_address[1]
                return self.answer(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}', [("WWW-Authenticate", challenge)])
        if "uploads" in parts and len(parts) > 2 and parts[2] == "resumable":
            return self.upload(parts)
        if self.command == "PUT" and len(parts) > 4 and parts[2] == "resumable" and parts[-2] == "manifests":
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            pushed[digest] = body
            tagged[parts[-1]] = digest
            self.log_request_line()
            return self.answer(201, b"", [("Docker-Content-Digest", digest)])
        self.log_request_line()
        if self.path == "/v2/":
            return self.answer(200, b"{}", [("Content-Type", "application/json")])
        parts = self.path.split("?")[0].split("/")
        if len(parts) < 5 or parts[1] != "v2":
            return self.answer(404)
        mode, kind, reference = parts[2], parts[-2], parts[-1]
        if mode == "silent":
            time.sleep(3600)
            return
        if mode in ("flaky", "throttled") and self.path not in seen:
            seen.add(self.path)
            if mode == "throttled":
                return self.answer(429, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}', [("Retry-After", "1")])
            return self.answer(503, b'{"errors":[{"code":"UNAVAILABLE","message":"try again"}]}')
        if kind == "manifests":
            entry = tags.get(reference)
            digest = entry["digest"] if entry else reference
            if mode == "resumable":
                digest = tagged.get(reference, reference)
            body = blob(digest) if digest.startswith("sha256:") else None
            if body is None:
                return self.answer(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}')
            media = json.loads(body).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
            if mode == "schema1":
                media = "application/vnd.docker.distribution.manifest.v1+prettyjws"
            if mode == "lying":
                # HEAD names no digest (some registries do not), so the client GETs by tag.
                claimed = [] if self.command == "HEAD" else [("Docker-Content-Digest", "sha256:" + hashlib.sha256(body + b" ").hexdigest())]
                return self.answer(200, body, [("Content-Type", media)] + claimed)
            return self.answer(200, body, [("Content-Type", media), ("Docker-Content-Digest", digest)])
        if kind == "blobs":
            if mode == "redirecting":
                target = "http://localhost:%d/v2/good/%s/blobs/%s?signature=presigned" % (
                    self.server.server_address[1], "/".join(parts[3:-2]), reference)
                return self.answer(307, b"", [("Location", target)])
            if mode == "resumable" and reference not in pushed:
                return self.answer(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"unknown"}]}')
            body = blob(reference)
            if body is None:
                return self.answer(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"unknown"}]}')
            if mode == "corrupt":
                body = bytes([body[0] ^ 1]) + body[1:]
            if mode == "slow" and self.command == "GET":
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for start in range(0, len(body), 65536):
                        self.wfile.write(body[start:start + 65536])
                        self.wfile.flush()
                        time.sleep(0.05)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                return
            ranged = self.headers.get("Range")
            if mode == "dropping" and self.command == "GET":
                if not ranged:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                start = int(ranged.split("=")[1].split("-")[0])
                return self.answer(206, body[start:], [("Content-Range", "bytes %d-%d/%d" % (start, len(body) - 1, len(body)))])
            return self.answer(200, body, [("Docker-Content-Digest", reference)])
        return self.answer(404)

    do_GET = serve
    do_HEAD = serve
    do_POST = serve
    do_PATCH = serve
    do_PUT = serve


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
