#!/usr/bin/env python3
"""An S3 endpoint that misbehaves on purpose, for ferry's bounds tests.

usage: fault-s3.py PORTFILE

The bucket (the first path component; path-style addressing) picks a behaviour:
  silent     every request is read and never answered (an endpoint that hangs)
  looping    a ListObjectsV2 always answers the same truncated page with the same continuation
             token (a server that would make a lister loop forever); other requests get 404
Signatures are not checked. Writes the port it listens on (127.0.0.1, a free one) to PORTFILE.
"""
import http.server, sys, time

PAGE = b"""<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>looping</Name><Prefix></Prefix>
<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>
<ContinuationToken>same</ContinuationToken><NextContinuationToken>same</NextContinuationToken>
<Contents><Key>epoch/manifests/app/v1.json</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"x"</ETag><Size>10</Size></Contents>
<Contents><Key>epoch/manifests/app/v2.json</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"y"</ETag><Size>10</Size></Contents>
</ListBucketResult>"""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        bucket = self.path.lstrip("/").split("/")[0].split("?")[0]
        if bucket == "silent":
            time.sleep(3600)
            return
        if bucket == "looping" and "list-type=2" in self.path:
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)
            return
        body = b"<Error><Code>NoSuchKey</Code><Message>none</Message></Error>"
        self.send_response(404)
        self.send_header("Content-Length", str(0 if self.command == "HEAD" else len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = handle_any


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
