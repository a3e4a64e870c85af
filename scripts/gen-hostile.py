#!/usr/bin/env python3
"""Small archives that cost a careless reader much time or memory, for Ferry's bounds tests.

usage:
  gen-hostile.py small-blobs OUT.tar.gz N
      an OCI layout archive (gzip) with N distinct blobs of 1 MiB each (a counter, then zeros:
      N = 1500 compresses to about 1.7 MB), one image manifest naming them, index.json last
  gen-hostile.py pax-headers OUT.tar N
      a cocoon export whose one data file is preceded by N PAX `x` headers of 1 MiB each, every
      one with records of its own
  gen-hostile.py many-entries OUT.tar N
      a cocoon export (snapshot.json first) followed by N empty regular files
  gen-hostile.py sparse-export OUT.tar N
      a cocoon export whose disk `overlay.qcow2` has N data runs of one byte, 4096 bytes apart
      (its COCOON.sparse.map PAX record is some 24 bytes a run: N = 50,000 is 1.2 MB)

Python 3 stdlib only (tarfile, gzip, json, hashlib).
"""
import gzip, hashlib, io, json, sys, tarfile

MiB = 1 << 20
ENVELOPE = json.dumps({"config": {"id": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "name": "x", "cpu": 1}, "version": 1}, indent=2).encode() + b"\n"


def add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def small_blobs(out, count):
    layers = []
    with gzip.open(out, "wb", compresslevel=1) as raw, tarfile.open(fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        add(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        for n in range(count):
            body = n.to_bytes(8, "big") + bytes(MiB - 8)
            digest = hashlib.sha256(body).hexdigest()
            add(tar, "blobs/sha256/" + digest, body)
            layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + digest, "size": len(body)})
        config = b'{"architecture":"amd64","os":"linux"}'
        add(tar, "blobs/sha256/" + hashlib.sha256(config).hexdigest(), config)
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": len(config)},
                               "layers": layers}).encode()
        add(tar, "blobs/sha256/" + hashlib.sha256(manifest).hexdigest(), manifest)
        index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                           "digest": "sha256:" + hashlib.sha256(manifest).hexdigest(), "size": len(manifest),
                                           "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}).encode()
        add(tar, "index.json", index)


def pax_headers(out, count):
    with open(out, "wb") as f:
        info = tarfile.TarInfo("snapshot.json")
        info.size, info.mode = len(ENVELOPE), 0o644
        f.write(info.tobuf(format=tarfile.USTAR_FORMAT))
        f.write(ENVELOPE + bytes(-len(ENVELOPE) % 512))
        for n in range(count):
            # One record of just under 1 MiB, a key of its own each time.
            key = "COCOON.pad%06d" % n
            value = "v" * (MiB - 64)
            record = "%s=%s\n" % (key, value)
            length = len(record) + len("%d " % (len(record) + 8))
            data = ("%d %s" % (length, record)).encode()
            info = tarfile.TarInfo("././@PaxHeader")
            info.type, info.size = tarfile.XHDTYPE, len(data)
            f.write(info.tobuf(format=tarfile.USTAR_FORMAT))
            f.write(data + bytes(-len(data) % 512))
        info = tarfile.TarInfo("disk.raw")
        info.size, info.mode = 4096, 0o644
        f.write(info.tobuf(format=tarfile.USTAR_FORMAT))
        f.write(bytes(4096) + bytes(1024))


def many_entries(out, count):
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        add(tar, "snapshot.json", ENVELOPE)
        for n in range(count):
            add(tar, "f%07d" % n, b"")


def sparse_export(out, count):
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        add(tar, "snapshot.json", ENVELOPE)
        body = bytes((n % 255) + 1 for n in range(count))
        info = tarfile.TarInfo("overlay.qcow2")
        info.size, info.mode, info.mtime = len(body), 0o644, 0
        info.pax_headers = {"COCOON.sparse.map": "[" + ",".join('{"o":%d,"l":1}' % (n * 4096) for n in range(count)) + "]",
                            "COCOON.sparse.size": str(count * 4096)}
        tar.addfile(info, io.BytesIO(body))


def main():
    kinds = {"small-blobs": small_blobs, "pax-headers": pax_headers, "many-entries": many_entries, "sparse-export": sparse_export}
    if len(sys.argv) != 4 or sys.argv[1] not in kinds:
        sys.exit(__doc__)
    kind, out, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    kinds[kind](out, count)


if __name__ == "__main__":
    main()
