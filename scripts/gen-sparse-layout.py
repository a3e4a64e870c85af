#!/usr/bin/env python3
"""Turn the disk of a snapshot layout into one with a huge sparse map, for Ferry's bounds tests.

usage: gen-sparse-layout.py LAYOUT TAG RUNS

LAYOUT holds a cocoon snapshot artifact under TAG (as `ferry copy cocoon:ROOT#NAME oci:LAYOUT:TAG`
writes it). Its disk layer (the `overlay.qcow2` or `cow.raw` title) is replaced by RUNS data runs
of one byte each, 4096 bytes apart: the layer blob holds the RUNS bytes, and the config's
`files[title]` gets the map as FORMATS.md §2.4 stores it (`sparseMap`: the compact JSON array as a
string, `sparseSize`: the logical size). The config, manifest and index.json are rewritten; the
tag then names the new manifest. Python 3 stdlib only.
"""
import hashlib
import json
import os
import sys

DISKS = ("overlay.qcow2", "cow.raw")
TITLE = "org.opencontainers.image.title"
REF_NAME = "org.opencontainers.image.ref.name"


def put(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def read(layout, digest):
    with open(os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1]), "rb") as f:
        return f.read()


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.splitlines()[2])
    layout, tag, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    entry = next(m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) == tag)
    manifest = json.loads(read(layout, entry["digest"]))
    config = json.loads(read(layout, manifest["config"]["digest"]))
    layer = next(l for l in manifest["layers"] if l.get("annotations", {}).get(TITLE) in DISKS)
    title = layer["annotations"][TITLE]

    body = bytes((i % 255) + 1 for i in range(runs))
    sparse_map = "[" + ",".join('{"o":%d,"l":1}' % (i * 4096) for i in range(runs)) + "]"
    layer["digest"], layer["size"] = put(layout, body)
    config["files"][title] = {**config["files"].get(title, {}), "sparseMap": sparse_map, "sparseSize": runs * 4096}
    manifest["config"]["digest"], manifest["config"]["size"] = put(layout, json.dumps(config, separators=(",", ":")).encode())
    entry["digest"], entry["size"] = put(layout, json.dumps(manifest, separators=(",", ":")).encode())
    with open(os.path.join(layout, "index.json.tmp"), "w") as f:
        json.dump(index, f, separators=(",", ":"))
    os.replace(os.path.join(layout, "index.json.tmp"), os.path.join(layout, "index.json"))
    print(entry["digest"])


if __name__ == "__main__":
    main()
