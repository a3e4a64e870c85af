#!/usr/bin/env python3
"""Pushes a file artifact with oras-py (PyPI `oras`) to a registry and pulls it back.

usage: oras-roundtrip.py HOST:PORT REPOSITORY TAG FILE OUTDIR [--chunked CHUNK_BYTES]

Plain HTTP (insecure). Exits 0 when the pulled file has the pushed bytes; prints the manifest
digest the registry answered with.
"""
import filecmp, os, sys

import oras.client

host, repository, tag, path, outdir = sys.argv[1:6]
chunked = "--chunked" in sys.argv
chunk = int(sys.argv[sys.argv.index("--chunked") + 1]) if chunked else 16 << 20
client = oras.client.OrasClient(hostname=host, insecure=True)
target = f"{host}/{repository}:{tag}"
os.chdir(os.path.dirname(os.path.abspath(path)))
response = client.push(target=target, files=[os.path.basename(path)], do_chunked=chunked, chunk_size=chunk,
                       disable_path_validation=True)
if response.status_code != 201:
    sys.exit(f"push answered {response.status_code}")
print(response.headers.get("Docker-Content-Digest", ""))
pulled = client.pull(target=target, outdir=outdir)
if len(pulled) != 1 or not filecmp.cmp(pulled[0], os.path.abspath(os.path.basename(path)), shallow=False):
    sys.exit(f"pulled {pulled}, not the pushed file")
