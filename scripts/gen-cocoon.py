#!/usr/bin/env python3
"""Cocoon snapshots written and read by an independent program (stdlib only), for Ferry's tests.

Follows ../shared/FORMATS.md §5 (the cocoon root) and §6 (the export tarball):

  gen-cocoon.py export OUT.tar[.gz] [--gzip] [--name N] [--seed S] [--disk-size B] [--disk-data B]
                [--hypervisor cloud-hypervisor|firecracker] [--envelope-order cocoon|epoch]
      a `cocoon snapshot export` tarball: snapshot.json first, then the data files sorted by
      name; the disk is a sparse entry (COCOON.sparse.map / COCOON.sparse.size PAX records, only
      its data bytes in the body).
  gen-cocoon.py root DIR [--name N] [same options] [--legacy-id]
      a cocoon root as cocoon leaves it: snapshot/db/snapshots.json (compact JSON + newline),
      snapshot/db/snapshots.lock, snapshot/localfile/<id>/ with the same files, the disk truly
      sparse (truncate, then pwrite of each run). Run again with another name to add a snapshot.
  gen-cocoon.py check-export FILE
      prints {"members": [{name, size, mode, type, pax, sha256}], "envelope": ...} as Python's
      tarfile reads the archive.
  gen-cocoon.py files DIR
      prints {name: {size, sha256 (holes read as zeros), allocated, mode}} for a data directory.

The same seed gives the same snapshot (files, id, config) in both forms. Roots hold absolute
paths and holes, which git does not keep, so tests generate them into scratch directories.
"""
import argparse, datetime, gzip, hashlib, io, json, os, random, sys, tarfile

B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
MTIME = 1776988800  # 2026-04-24T00:00:00Z: fixtures stay byte-identical across runs


def snapshot(args):
    rng = random.Random(args.seed)
    sid = "".join(rng.choice("0123456789abcdef") for _ in range(16)) if getattr(args, "legacy_id", False) \
        else "".join(rng.choice(B32) for _ in range(26))
    size, data = args.disk_size, args.disk_data
    run = max(4096, (data // 4) // 4096 * 4096)
    runs = [(i * (size // 4) // 65536 * 65536, run) for i in range(4)]
    disk = {"runs": [(o, rng.randbytes(l)) for o, l in runs], "size": size}
    if args.hypervisor == "firecracker":
        files = {"cocoon.json": (0o600, json.dumps({"hypervisor": "firecracker"}).encode()),
                 "cow.raw": (0o644, disk),
                 "mem": (0o644, rng.randbytes(1 << 20) + bytes(1 << 20)),
                 "vmstate": (0o644, rng.randbytes(70000))}
    else:
        files = {"cidata.img": (0o644, rng.randbytes(8192)),
                 "cocoon.json": (0o600, json.dumps({"hypervisor": "cloud-hypervisor"}).encode()),
                 "config.json": (0o644, json.dumps({"cpus": {"boot_vcpus": 2}, "memory": {"size": 2147483648}}).encode()),
                 "memory-ranges": (0o644, rng.randbytes(1 << 20) + bytes(1 << 20)),
                 "overlay.qcow2": (0o644, disk),
                 "state.json": (0o644, json.dumps({"state": "paused"}).encode())}
    blob = "".join(rng.choice("0123456789abcdef") for _ in range(64))
    config = [("cpu", 2), ("memory", 2147483648), ("storage", 10737418240), ("queue_size", 256),
              ("disk_queue_size", 128), ("image", "ghcr.io/cocoonstack/cocoon/ubuntu:24.04"),
              ("image_digest", "sha256:" + blob), ("image_type", "cloudimg"), ("network", "default"),
              ("no_direct_io", True), ("windows", False), ("id", sid), ("name", args.name),
              ("description", "made by gen-cocoon.py"), ("image_blob_ids", {blob: {}}),
              ("hypervisor", args.hypervisor), ("nics", 1)]
    config = {k: v for k, v in config if k == "name" or v}
    return sid, config, files


def packed(content):
    if isinstance(content, bytes):
        return content, None
    runs = content["runs"]
    sparse_map = json.dumps([{"o": o, "l": len(b)} for o, b in runs], separators=(",", ":"))
    return b"".join(b for _, b in runs), (sparse_map, str(content["size"]))


def export(args):
    _, config, files = snapshot(args)
    envelope = {"config": config, "version": 1} if args.envelope_order == "cocoon" else {"version": 1, "config": config}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name, mode, body, pax=None):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime, info.type = len(body), mode, MTIME, tarfile.REGTYPE
            if pax:
                info.pax_headers = {"COCOON.sparse.map": pax[0], "COCOON.sparse.size": pax[1]}
            tar.addfile(info, io.BytesIO(body))
        add("snapshot.json", 0o644, (json.dumps(envelope, indent=2) + "\n").encode())
        for name in sorted(files):
            mode, content = files[name]
            body, pax = packed(content)
            add(name, mode, body, pax)
    data = out.getvalue()
    if args.gzip or args.out.endswith((".gz", ".tgz")):
        data = gzip.compress(data, compresslevel=1, mtime=0)
    with open(args.out, "wb") as f:
        f.write(data)


def root(args):
    sid, config, files = snapshot(args)
    base = os.path.abspath(args.dir)
    db = os.path.join(base, "snapshot", "db")
    data_dir = os.path.join(base, "snapshot", "localfile", sid)
    os.makedirs(db, exist_ok=True)
    open(os.path.join(db, "snapshots.lock"), "a").close()
    index_path = os.path.join(db, "snapshots.json")
    index = json.load(open(index_path)) if os.path.exists(index_path) else {"snapshots": {}, "names": {}}
    if args.name in (index.get("names") or {}):
        sys.exit(f"gen-cocoon: name {args.name} is taken")
    os.makedirs(data_dir)
    for name, (mode, content) in files.items():
        path = os.path.join(data_dir, name)
        if isinstance(content, bytes):
            with open(path, "wb") as f:
                f.write(content)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            os.truncate(fd, content["size"])
            for offset, body in content["runs"]:
                os.pwrite(fd, body, offset)
            os.close(fd)
            found, pos = [], 0
            fd = os.open(path, os.O_RDONLY)
            while True:
                try:
                    start = os.lseek(fd, pos, os.SEEK_DATA)
                except OSError:
                    break
                pos = os.lseek(fd, start, os.SEEK_HOLE)
                found.append((start, pos - start))
            os.close(fd)
            if found != [(o, len(b)) for o, b in content["runs"]]:
                sys.exit(f"gen-cocoon: {path} is not sparse as intended: {found}")
        os.chmod(path, mode)
    now = datetime.datetime.now().astimezone().isoformat(timespec="microseconds")
    record = dict(config)
    record.update({"created_at": now, "data_dir": data_dir})
    index.setdefault("snapshots", {})[sid] = record
    index.setdefault("names", {})[args.name] = sid
    tmp = os.path.join(db, ".tmp-gen")
    with open(tmp, "w") as f:
        f.write(json.dumps(index, separators=(",", ":"), sort_keys=False) + "\n")
    os.rename(tmp, index_path)
    print(sid)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_export(args):
    members, envelope = [], None
    with tarfile.open(args.file, "r:*") as tar:
        for m in tar:
            body = tar.extractfile(m).read() if m.isreg() else b""
            if m.name == "snapshot.json":
                envelope = json.loads(body)
            members.append({"name": m.name, "size": m.size, "mode": m.mode, "type": m.type.decode(),
                            "pax": {k: v for k, v in m.pax_headers.items() if k.startswith("COCOON.")},
                            "sha256": hashlib.sha256(body).hexdigest()})
    json.dump({"members": members, "envelope": envelope}, sys.stdout)


def files(args):
    out = {}
    for name in sorted(os.listdir(args.dir)):
        path = os.path.join(args.dir, name)
        st = os.lstat(path)
        if os.path.isfile(path) and not os.path.islink(path):
            out[name] = {"size": st.st_size, "sha256": sha256_file(path), "allocated": st.st_blocks * 512, "mode": st.st_mode & 0o7777}
    json.dump(out, sys.stdout)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("export", "root"):
        s = sub.add_parser(name)
        s.add_argument("out" if name == "export" else "dir")
        s.add_argument("--name", default="mysnap")
        s.add_argument("--seed", type=int, default=1)
        s.add_argument("--disk-size", type=int, default=64 << 20)
        s.add_argument("--disk-data", type=int, default=1 << 20)
        s.add_argument("--hypervisor", default="cloud-hypervisor", choices=["cloud-hypervisor", "firecracker"])
        if name == "export":
            s.add_argument("--gzip", action="store_true")
            s.add_argument("--envelope-order", default="cocoon", choices=["cocoon", "epoch"])
        else:
            s.add_argument("--legacy-id", action="store_true")
    sub.add_parser("check-export").add_argument("file")
    sub.add_parser("files").add_argument("dir")
    args = p.parse_args()
    {"export": export, "root": root, "check-export": check_export, "files": files}[args.cmd](args)


if __name__ == "__main__":
    main()
