#!/usr/bin/env python3
"""Writes the fuzz seed corpora under fixtures/fuzz/HARNESS from the fixtures and the forms the
tests use. Deterministic; rerun after changing it: python3 scripts/fuzz-seeds.py"""
import gzip, hashlib, io, json, os, shutil, tarfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "fixtures", "fuzz")
HEX = "8d960ecee556cdc5d941f21a1c23e93586aa0f4bd8cd93e22b847ebc7463c939"


def write(harness, data):
    """One seed, named by its content's digest as libFuzzer names corpus files."""
    if isinstance(data, str):
        data = data.encode()
    directory = os.path.join(OUT, harness)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def fixture(*parts):
    with open(os.path.join(ROOT, "fixtures", *parts), "rb") as f:
        return f.read()


def layout_files(name):
    """(path in the layout, bytes) of a fixture layout, sorted."""
    base = os.path.join(ROOT, "fixtures", name)
    found = []
    for directory, _, files in os.walk(base):
        for file in files:
            path = os.path.join(directory, file)
            found.append((os.path.relpath(path, base), open(path, "rb").read()))
    return sorted(found)


def tar_bytes(members, fmt=tarfile.PAX_FORMAT, compress=False):
    """A tar of (name, bytes, pax records) members, fixed times and owners."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for name, data, pax in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1704067200, 0o644
            info.pax_headers = pax
            tar.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    return gzip.compress(data, mtime=0) if compress else data


def json_documents():
    docs = []
    for layout in ("umoci-layout", "skopeo-layout", "multiarch-layout"):
        for path, data in layout_files(layout):
            if path == "oci-layout" or path == "index.json" or (data[:1] == b"{" and len(data) < 4096):
                docs.append(data)
    return docs


def main():
    shutil.rmtree(OUT, ignore_errors=True)

    references = [
        "oci:DIR", "oci:DIR:v1", "oci:DIR:example.com/app:v1", f"oci:DIR@sha256:{HEX}", "oci:/tmp/l:example.com:5000/team/app:v1.2",
        "oci-archive:F.tar:v1", f"oci-archive:/x/F.tar.gz@sha256:{HEX}", "epoch:", "epoch:team/app", "epoch:name:tag",
        "epoch:/dir#team/app:v1", "epoch:#app:v1", "epoch:s3://bucket/pre/#app:v1", f"epoch:s3://bucket/pre#app@sha256:{HEX}",
        "epoch:s3://bucket", "cocoon:", "cocoon:snap", "cocoon:/var/lib/cocoon#my-snap.1", "cocoon-archive:f.tar",
        "docker://alpine:3.20", "docker://bitnami/redis:7", "docker://ghcr.io/team/mirror/", "docker://localhost:5000/a/b:v1",
        f"docker://host.example/a:v1@sha256:{HEX}", "docker://ghcr.io", "disk:f.qcow2", "linux/arm64/v8", f"sha512:{HEX}{HEX}",
    ]
    for text in references:
        write("reference", text)

    docs = json_documents()
    for data in docs:
        write("manifest", data)
        write("gojson", data)
    snapshot_envelope = None
    with tarfile.open(os.path.join(ROOT, "fixtures", "cocoon-export.tar")) as tar:
        snapshot_envelope = tar.extractfile("snapshot.json").read()
        cocoon = [(m.name, tar.extractfile(m).read() if m.size <= 4096 else b"\0" * 512, dict(m.pax_headers)) for m in tar.getmembers()]
    write("gojson", snapshot_envelope)
    write("gojson", '{"a":[1,-2.5e+3,true,false,null,"\\u00e9\\ud83d\\ude00\\n\\/"],"b":{}}')

    # Snapshot indexes as cocoon writes them (compact, sorted maps, a newline).
    config = json.loads(snapshot_envelope)["config"]
    record = dict(config, created_at="2024-01-01T00:00:00.123456789Z", data_dir="/var/lib/cocoon/snapshot/localfile/" + config["id"])
    pending = dict(record, id="0123456789abcdef", name="other", pending=True, extra={"kept": [1, 2]})
    for index in (
        {"snapshots": {config["id"]: record}, "names": {config["name"]: config["id"]}},
        {"snapshots": {config["id"]: record, "0123456789abcdef": pending}, "names": {config["name"]: config["id"], "other": "0123456789abcdef"}},
        {"snapshots": {}, "names": {}},
    ):
        write("snapshots-json", json.dumps(index, separators=(",", ":")) + "\n")

    # Sparse maps: the size line, then the map.
    for size, text in (
        (67108864, '[{"o":0,"l":262144},{"o":16777216,"l":262144},{"o":33554432,"l":262144},{"o":50331648,"l":262144}]'),
        (4096, "null"), (0, "[]"), (1048576, '[ {"l":4096, "o":0} , {"o":8192,"l":0} ]'),
    ):
        write("sparse-map", f"{size}\n{text}")

    # PAX tars: a small cocoon export (real headers, data cut to 512 bytes), GNU and ustar forms.
    small_map = '[{"o":0,"l":256},{"o":4096,"l":256}]'
    cocoon_small = [(n, d, p) for n, d, p in cocoon if n != "overlay.qcow2"]
    cocoon_small.append(("overlay.qcow2", b"Q" * 512, {"COCOON.sparse.map": small_map, "COCOON.sparse.size": "8192"}))
    write("pax-tar", tar_bytes(cocoon_small))
    write("pax-tar", tar_bytes(cocoon_small[:3], compress=True))
    write("pax-tar", tar_bytes([("a/" + "long-name-" * 12, b"x" * 10, {})], fmt=tarfile.GNU_FORMAT))
    write("pax-tar", tar_bytes([("dir/file", b"hello\n", {}), ("empty", b"", {})], fmt=tarfile.USTAR_FORMAT))

    # Layout tarballs: the fixture layouts, plain and gzip.
    for layout in ("skopeo-layout", "multiarch-layout"):
        members = [(path, data, {}) for path, data in layout_files(layout)]
        write("layout-archive", tar_bytes(members, fmt=tarfile.USTAR_FORMAT))
    write("layout-archive", tar_bytes([(p, d, {}) for p, d in layout_files("skopeo-layout")], compress=True))

    # ListObjectsV2 pages, as S3 and SeaweedFS answer.
    contents = "".join(
        f"<Contents><Key>epoch/blobs/sha256/{h}</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
        f'<ETag>"abc"</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>'
        for h, size in ((HEX, 345), ("0" * 64, 0))
    )
    head = '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    write("s3-listing", f"{head}<Name>bucket</Name><Prefix>epoch/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>"
          f"<IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>{contents}</ListBucketResult>")
    write("s3-listing", f"{head}<Name>bucket</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>")
    write("s3-listing", f"{head}<Contents><Key>a&amp;b &lt;c&gt;</Key><LastModified>2024-01-01T00:00:00Z</LastModified><Size>7</Size></Contents></ListBucketResult>")


main()
