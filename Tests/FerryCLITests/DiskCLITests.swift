import Foundation
import Testing

/// disk: and cloud-image artifacts: built from a disk file (split into parts), carried through
/// archives and buckets, and assembled again in title order with the holes kept.
@Suite struct DiskCLITests {
    private func allocated(_ path: String) -> Int {
        var info = stat()
        stat(path, &info)
        return Int(info.st_blocks) * 512
    }

    @Test func aDiskTravelsInPartsAndComesBackIdenticalAndSparse() throws {
        let scratch = try Scratch()
        let disk = scratch.path("win.raw")
        // 40 MiB long, two runs of data: a raw disk that is mostly holes.
        let make = "import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT); os.truncate(fd, 40 << 20); os.pwrite(fd, os.urandom(3 << 20), 0); os.pwrite(fd, os.urandom(5000), 30 << 20)"
        #expect(try run("python3", ["-c", make, disk]).status == 0)
        let archive = scratch.path("img.tar")
        let bucket = scratch.path("bucket")
        let out = scratch.path("out.raw")
        for (from, to, extra) in [("disk:\(disk)", "oci-archive:\(archive):v1", ["--part-size", "16M"]), ("oci-archive:\(archive):v1", "epoch:\(bucket)#win11:25h2", []),
                                  ("epoch:\(bucket)#win11:25h2", "disk:\(out)", [])] {
            let step = try run(Paths.ferry, ["copy", "--progress", "none"] + extra + [from, to])
            #expect(step.status == 0, "\(from) -> \(to): \(step.stderr)")
        }
        let summary = try #require(jsonLines(try ferry("inspect", "--json", "epoch:\(bucket)#win11:25h2").stdout).first)
        #expect(summary["kind"] as? String == "cloud-image")
        let layers = summary["layers"] as! [[String: Any]]
        #expect(layers.map { ($0["annotations"] as? [String: String])?["org.opencontainers.image.title"] } == ["win.raw.00.raw.part", "win.raw.01.raw.part", "win.raw.02.raw.part"])
        #expect(layers.allSatisfy { $0["mediaType"] as? String == "application/vnd.cocoonstack.disk.raw.part" })
        #expect(layers.map { $0["size"] as? Int } == [16 << 20, 16 << 20, 8 << 20])
        #expect(try run("cmp", [disk, out]).status == 0)
        #expect(allocated(out) < 8 << 20)
    }

    @Test func partsAreAssembledInTitleOrderWhateverTheManifestOrder() throws {
        let scratch = try Scratch()
        let layout = scratch.path("layout")
        // Written by Python: parts listed out of order, and a checksum layer that is not disk.
        let script = """
            import hashlib, json, os, sys
            root = sys.argv[1]
            os.makedirs(root + "/blobs/sha256")
            def blob(data):
                h = hashlib.sha256(data).hexdigest()
                open(root + "/blobs/sha256/" + h, "wb").write(data)
                return {"digest": "sha256:" + h, "size": len(data)}
            p0, p1 = b"QFI\\xfb" + b"A" * 5000, b"B" * 7000
            def layer(data, title, mt): return dict(mediaType=mt, **blob(data), annotations={"org.opencontainers.image.title": title})
            m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "artifactType": "application/vnd.cocoonstack.os-image.v1+json",
                 "config": dict(mediaType="application/vnd.oci.empty.v1+json", **blob(b"{}")),
                 "layers": [layer(p1, "win.qcow2.01.qcow2.part", "application/vnd.cocoonstack.disk.qcow2.part"),
                            layer(b"sums\\n", "SHA256SUMS", "text/plain"),
                            layer(p0, "win.qcow2.00.qcow2.part", "application/vnd.cocoonstack.disk.qcow2.part")]}
            md = json.dumps(m).encode()
            idx = {"schemaVersion": 2, "manifests": [dict(mediaType="application/vnd.oci.image.manifest.v1+json", **blob(md), annotations={"org.opencontainers.image.ref.name": "v1"})]}
            open(root + "/index.json", "w").write(json.dumps(idx))
            open(root + "/oci-layout", "w").write('{"imageLayoutVersion": "1.0.0"}')
            open(sys.argv[2], "wb").write(p0 + p1)
            """
        let expected = try run("python3", ["-c", script, layout, scratch.path("expected")])
        #expect(expected.status == 0, "\(expected.stderr)")
        let out = scratch.path("win.qcow2")
        let copy = try ferry("copy", "--progress", "none", "oci:\(layout):v1", "disk:\(out)")
        #expect(copy.status == 0, "\(copy.stderr)")
        #expect(try run("cmp", [out, scratch.path("expected")]).status == 0)
    }

    @Test func whatIsNotACloudImageIsRefusedAndNothingIsWritten() throws {
        let scratch = try Scratch()
        let out = scratch.path("disk.raw")
        let result = try ferry("copy", "--progress", "none", "oci:\(Paths.fixture("umoci-layout")):v1", "disk:\(out)")
        #expect(result.status == 1 && result.errorLines.count == 1 && result.stderr.contains("not a cloud image"), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).isEmpty)
        let missing = try ferry("copy", "--progress", "none", "disk:\(scratch.path("absent"))", "oci:\(scratch.path("l")):v1")
        #expect(missing.status == 1 && missing.stderr == "ferry: disk:\(scratch.path("absent")): no such file\n", "\(missing.stderr)")
    }
}
