#!/usr/bin/env python3
"""Generate a synthetic OCI image layout of incompressible data, for benchmarks.

usage: gen-layout.py DIR --size-mib N --layers K [--tag T] [--seed S] [--raw] [--tags N]

Writes ~N MiB of random bytes split over K layers whose sizes are proportional
to 1..K (so they all differ), plus a minimal image config (linux/amd64, diff_ids
matching the layers) and an image manifest, and tags it in DIR/index.json with
org.opencontainers.image.ref.name = T (default "bench"). Prints the manifest
digest on stdout; a summary goes to stderr.

Each layer is by default a real, uncompressed tar (mediaType
application/vnd.oci.image.layer.v1.tar) holding one file of random bytes, so
tools that read layers (oci-image-tool validate, umoci unpack) accept it; the
layer digest equals its diff_id. --raw writes bare random bytes instead (same
mediaType, not a valid tar; skopeo copies it, oci-image-tool rejects it).

--tags N writes N tags instead of one: T-00001 ... T-N, each naming a manifest of its
own (the same layers and config, told apart by an annotation), as a registry
mirror with many tags looks.

Without --seed the data comes from os.urandom; with --seed the output is fully
deterministic (same arguments + seed => same digests), at roughly half the speed.

If DIR already is an OCI layout the image is added to it (a descriptor with the
same tag is replaced); otherwise DIR must be absent or empty. Python 3 stdlib only.
"""
import argparse
import concurrent.futures as cf
import hashlib
import json
import os
import random
import sys
import tarfile
import time

MiB = 1 << 20
CHUNK = 8 * MiB
LAYER_MT = "application/vnd.oci.image.layer.v1.tar"
CONFIG_MT = "application/vnd.oci.image.config.v1+json"
MANIFEST_MT = "application/vnd.oci.image.manifest.v1+json"
INDEX_MT = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"


def layer_sizes(total, k):
    """Sizes proportional to 1..k summing exactly to total."""
    weight = k * (k + 1) // 2
    sizes = [total * i // weight for i in range(1, k + 1)]
    sizes[-1] += total - sum(sizes)
    return sizes


class BlobWriter:
    """Streams bytes into DIR/blobs/sha256/<tmp>, hashing as it goes."""

    def __init__(self, layout):
        self.dir = os.path.join(layout, "blobs", "sha256")
        self.tmp = os.path.join(self.dir, ".tmp-%d-%d" % (os.getpid(), time.monotonic_ns()))
        self.f = open(self.tmp, "wb", buffering=0)
        self.h = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self.h.update(data)
        view = memoryview(data)
        while view:
            n = self.f.write(view)
            view = view[n:]
        self.size += len(data)

    def commit(self):
        self.f.close()
        digest = "sha256:" + self.h.hexdigest()
        os.replace(self.tmp, os.path.join(self.dir, self.h.hexdigest()))
        return digest, self.size


def write_bytes_blob(layout, data):
    w = BlobWriter(layout)
    w.write(data)
    return w.commit()


def random_chunks(pool, nbytes, seed, stream_id):
    """Yields nbytes of random data in CHUNK-sized pieces, generated ahead in a thread pool."""
    def gen(i, n):
        if seed is None:
            return os.urandom(n)
        # str seeds are hashed with SHA-512 by random.seed: stable across runs/platforms.
        return random.Random(f"{seed}/{stream_id}/{i}").randbytes(n)

    starts = range(0, nbytes, CHUNK)
    pending = []
    it = iter(enumerate(starts))
    lookahead = 2 * (os.cpu_count() or 2)
    for i, off in it:
        pending.append(pool.submit(gen, i, min(CHUNK, nbytes - off)))
        if len(pending) >= lookahead:
            break
    while pending:
        chunk = pending.pop(0).result()
        nxt = next(it, None)
        if nxt is not None:
            i, off = nxt
            pending.append(pool.submit(gen, i, min(CHUNK, nbytes - off)))
        yield chunk


def write_layer(layout, pool, idx, payload, seed, raw):
    w = BlobWriter(layout)
    if not raw:
        ti = tarfile.TarInfo(f"bench/layer-{idx:03d}.bin")
        ti.size, ti.mode, ti.mtime, ti.type = payload, 0o644, 0, tarfile.REGTYPE
        ti.uname = ti.gname = "root"
        w.write(ti.tobuf(format=tarfile.PAX_FORMAT))  # PAX: sizes > 8 GiB still OK
    for chunk in random_chunks(pool, payload, seed, idx):
        w.write(chunk)
    if not raw:
        pad = -payload % tarfile.BLOCKSIZE
        w.write(b"\0" * (pad + 2 * tarfile.BLOCKSIZE))  # file padding + end-of-archive
    return w.commit()


def prepare_layout(path):
    marker = os.path.join(path, "oci-layout")
    if os.path.isdir(path) and os.listdir(path) and not os.path.isfile(marker):
        sys.exit(f"{path}: exists, is not empty and is not an OCI image layout")
    os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
    if not os.path.isfile(marker):
        with open(marker, "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
    index_path = os.path.join(path, "index.json")
    if os.path.isfile(index_path):
        with open(index_path) as f:
            return json.load(f)
    return {"schemaVersion": 2, "mediaType": INDEX_MT, "manifests": []}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--size-mib", type=float, required=True, help="total layer payload in MiB")
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--tag", default="bench")
    ap.add_argument("--seed", default=None, help="deterministic data from this seed")
    ap.add_argument("--raw", action="store_true", help="layers are bare random bytes, not tars")
    ap.add_argument("--tags", type=int, default=1, help="this many tags, each naming a manifest of its own")
    args = ap.parse_args()
    if args.layers < 1 or args.size_mib < 0:
        ap.error("--layers must be >= 1 and --size-mib >= 0")

    t0 = time.monotonic()
    index = prepare_layout(args.dir)
    sizes = layer_sizes(int(args.size_mib * MiB), args.layers)

    layers = []
    with cf.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for i, n in enumerate(sizes):
            digest, size = write_layer(args.dir, pool, i, n, args.seed, args.raw)
            layers.append({"mediaType": LAYER_MT, "digest": digest, "size": size})

    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]},
    }
    cdigest, csize = write_bytes_blob(args.dir, json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MT,
        "config": {"mediaType": CONFIG_MT, "digest": cdigest, "size": csize},
        "layers": layers,
    }
    names = [args.tag] if args.tags <= 1 else [f"{args.tag}-{i:05d}" for i in range(1, args.tags + 1)]
    entries = []
    for n, name in enumerate(names):
        if len(names) > 1:
            manifest["annotations"] = {"org.example.n": str(n)}
        mdigest, msize = write_bytes_blob(args.dir, json.dumps(manifest).encode())
        entries.append({"mediaType": MANIFEST_MT, "digest": mdigest, "size": msize,
                        "annotations": {REF_NAME: name}})
    taken = set(names)
    index["manifests"] = [d for d in index.get("manifests", [])
                          if d.get("annotations", {}).get(REF_NAME) not in taken] + entries
    tmp = os.path.join(args.dir, "index.json.tmp")
    with open(tmp, "w") as f:
        json.dump(index, f)
    os.replace(tmp, os.path.join(args.dir, "index.json"))

    total = sum(l["size"] for l in layers)
    dt = time.monotonic() - t0
    print(f"{args.dir}:{args.tag}: {len(layers)} layers, {total} bytes "
          f"({total / MiB:.1f} MiB) in {dt:.2f}s ({total / MiB / max(dt, 1e-9):.0f} MiB/s)",
          file=sys.stderr)
    print(mdigest)


if __name__ == "__main__":
    main()
