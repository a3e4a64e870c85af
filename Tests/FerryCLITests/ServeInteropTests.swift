import Foundation
import OCI
import Testing

/// `ferry serve` with real clients: skopeo, oras-py, ferry's own docker:// client; an Epoch
/// bucket written through the server; signals and kills (issue 15).
@Suite struct ServeInteropTests {
    static let oras = Paths.packageRoot.appendingPathComponent(".venv/bin/python").path

    func inspectDigest(_ reference: String) throws -> String? {
        jsonLines(try ferry("inspect", "--json", reference).stdout).last?["digest"] as? String
    }

    @Test(.enabled(if: have("skopeo"))) func skopeoPullsAndPushesImagesAndIndexes() throws {
        let scratch = try Scratch()
        let source = scratch.path("src")
        try FileManager.default.copyItem(atPath: Paths.fixture("multiarch-layout"), toPath: source)
        let server = try Served(["oci:\(source)", "--repository", "multi"])
        let index = try #require(try inspectDigest("oci:\(source):latest"))
        // Pull the index with every platform, then one image of it.
        let pulled = try run("skopeo", ["copy", "--all", "--src-tls-verify=false", "docker://\(server.address)/multi:latest", "oci:\(scratch.path("out")):latest"])
        #expect(pulled.status == 0, "\(pulled.stderr)")
        #expect(try inspectDigest("oci:\(scratch.path("out")):latest") == index)
        #expect(try ferry("verify", "oci:\(scratch.path("out"))").status == 0)
        // Push an image and the index into an empty layout served read-write.
        let empty = scratch.path("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: false)
        let target = try Served(["oci:\(empty)"])
        let pushed = try run("skopeo", ["copy", "--all", "--dest-tls-verify=false", "oci:\(source):latest", "docker://\(target.address)/team/multi:v1"])
        #expect(pushed.status == 0, "\(pushed.stderr)")
        let image = try run("skopeo", ["copy", "--dest-tls-verify=false", "oci:\(Paths.fixture("skopeo-layout")):v1", "docker://\(target.address)/app:v1"])
        #expect(image.status == 0, "\(image.stderr)")
        #expect(try inspectDigest("oci:\(empty):team/multi:v1") == index)
        #expect(try inspectDigest("oci:\(empty):app:v1") == inspectDigest("oci:\(Paths.fixture("skopeo-layout")):v1"))
        #expect(try ferry("verify", "oci:\(empty)").status == 0)
        #expect(try skopeoDigest("docker://\(target.address)/team/multi:v1", tlsVerify: false) == index)
    }

    func skopeoDigest(_ reference: String, tlsVerify: Bool) throws -> String? {
        let result = try run("skopeo", ["inspect", "--tls-verify=\(tlsVerify)", "--raw", reference])
        return result.status == 0 ? Digest.compute(Array(result.stdout.utf8)).description : nil
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: ServeInteropTests.oras), "needs the venv make test makes"))
    func orasPushesAndPullsAFileArtifactChunkedAndMonolithic() throws {
        let scratch = try Scratch()
        let empty = scratch.path("layout")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: false)
        let server = try Served(["oci:\(empty)"])
        let script = Paths.packageRoot.appendingPathComponent("scripts/oras-roundtrip.py").path
        for (name, chunked) in [("chunked", true), ("monolithic", false)] {
            let file = scratch.path("\(name).bin")
            try Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* (chunked ? 31 : 37)) }).write(to: URL(fileURLWithPath: file))
            let result = try run(Self.oras, [script, server.address, "files/\(name)", "v1", file, scratch.path("pulled-\(name)")]
                + (chunked ? ["--chunked", "1000000"] : []))
            #expect(result.status == 0, "\(name): \(result.stdout)\(result.stderr)")
        }
        #expect(try ferry("verify", "oci:\(empty)").status == 0)
        let log = server.stop().stderr
        #expect(log.contains("PATCH /v2/files/chunked/blobs/uploads/"))
    }

    @Test func ferrysOwnClientCopiesInBothDirections() throws {
        let scratch = try Scratch()
        let empty = scratch.path("layout")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: false)
        let server = try Served(["oci:\(empty)"])
        let fixture = "oci:\(Paths.fixture("multiarch-layout")):latest"
        let up = try ferry("copy", "--progress", "none", "--all", "--tls-verify=false", fixture, "docker://\(server.address)/multi:v1")
        #expect(up.status == 0, "\(up.stderr)")
        let down = try ferry("copy", "--progress", "none", "--all", "--tls-verify=false", "docker://\(server.address)/multi:v1", "oci:\(scratch.path("back")):v1")
        #expect(down.status == 0, "\(down.stderr)")
        #expect(try inspectDigest("oci:\(scratch.path("back")):v1") == inspectDigest(fixture))
        let listed = try ferry("ls", "--tls-verify=false", "docker://\(server.address)")
        #expect(listed.stdout.contains("multi"))
    }

    @Test func anEpochBucketWrittenThroughTheServerIsTheOneACopyWrites() throws {
        let scratch = try Scratch()
        let served = scratch.path("served"), copied = scratch.path("copied")
        try FileManager.default.createDirectory(atPath: served, withIntermediateDirectories: false)
        let server = try Served(["epoch:\(served)"])
        let fixture = "oci:\(Paths.fixture("skopeo-layout")):v1"
        #expect(try ferry("copy", "--progress", "none", "--tls-verify=false", fixture, "docker://\(server.address)/team/app:v1").status == 0)
        #expect(try ferry("copy", "--progress", "none", fixture, "epoch:\(copied)#team/app:v1").status == 0)
        var a = snapshot(served), b = snapshot(copied)
        #expect(Set(a.keys) == Set(b.keys))
        // The catalog says when it was written; everything else is the same bytes.
        for key in ["epoch/catalog.json"] {
            for var tree in [a, b] { tree[key] = nil }
            let stamp = try Regex(#""updatedAt" *: *"[^"]*""#)
            let x = String(decoding: a[key] ?? Data(), as: UTF8.self).replacing(stamp, with: "")
            let y = String(decoding: b[key] ?? Data(), as: UTF8.self).replacing(stamp, with: "")
            #expect(x == y && !x.isEmpty)
            a[key] = nil
            b[key] = nil
        }
        #expect(a == b)
        #expect(try ferry("verify", "epoch:\(served)").status == 0)
    }

    @Test func snapshotsArePulledFromAnExportAndPushedIntoACocoonRoot() throws {
        let scratch = try Scratch()
        let export = "cocoon-archive:\(Paths.fixture("cocoon-export.tar"))"
        let archive = try Served([export])
        let name = try #require((try http("GET", "\(archive.url)/v2/_catalog").json?["repositories"] as? [String])?.first)
        // The artifact is made from the export when read (its creation time is the reading's), so
        // it is compared with what the server says it serves.
        let expected = try #require(try http("HEAD", "\(archive.url)/v2/\(name)/manifests/latest").headers["docker-content-digest"])
        #expect(try http("GET", "\(archive.url)/v2/\(name)/manifests/\(expected)").status == 200)
        // skopeo pulls the snapshot artifact as the archive shows it.
        if have("skopeo") {
            let pulled = try run("skopeo", ["copy", "--src-tls-verify=false", "docker://\(archive.address)/\(name):latest", "oci:\(scratch.path("snap")):latest"])
            #expect(pulled.status == 0, "\(pulled.stderr)")
            #expect(try inspectDigest("oci:\(scratch.path("snap")):latest") == expected)
        }
        // Pushed into a served cocoon root, it becomes a snapshot that verifies, with the
        // export's files.
        let root = scratch.path("root")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
        let cocoon = try Served(["cocoon:\(root)"])
        let pushed = try ferry("copy", "--progress", "none", "--tls-verify=false", "docker://\(archive.address)/\(name):latest", "docker://\(cocoon.address)/web:latest")
        #expect(pushed.status == 0, "\(pushed.stderr)")
        #expect(try ferry("verify", "cocoon:\(root)#web").status == 0)
        let back = try ferry("copy", "--progress", "none", "cocoon:\(root)#web", "cocoon-archive:\(scratch.path("back.tar"))")
        #expect(back.status == 0, "\(back.stderr)")
        #expect(try ferry("copy", "--progress", "none", "cocoon-archive:\(scratch.path("back.tar"))", "cocoon:\(scratch.path("root2"))#again").status == 0)
        #expect(try http("GET", "\(cocoon.url)/v2/_catalog").json?["repositories"] as? [String] == ["web"])
        // The scratch layout and the spools go with the server.
        #expect(cocoon.stop().status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).allSatisfy { !$0.hasPrefix(".ferry-") })
    }

    @Test func anEpochBucketServesDownloadsAndEpochsExtensions() throws {
        let scratch = try Scratch()
        let bucket = scratch.path("bucket")
        try FileManager.default.createDirectory(atPath: bucket, withIntermediateDirectories: false)
        let disk = scratch.path("disk.raw")
        try Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 11) }).write(to: URL(fileURLWithPath: disk))
        for (source, name) in [("cocoon-archive:\(Paths.fixture("cocoon-export.tar"))", "snap"), ("disk:\(disk)", "img"),
                               ("oci:\(Paths.fixture("skopeo-layout")):v1", "app")] {
            #expect(try ferry("copy", "--progress", "none", source, "epoch:\(bucket)#\(name):latest").status == 0)
        }
        let server = try Served(["epoch:\(bucket)"])
        // A snapshot comes down as a tarball cocoon's import (and ferry) reads.
        let snapshot = try http("GET", "\(server.url)/dl/snap")
        #expect(snapshot.status == 200 && snapshot.headers["content-type"] == "application/x-tar")
        try snapshot.body.write(to: URL(fileURLWithPath: scratch.path("snap.tar")))
        #expect(try ferry("copy", "--progress", "none", "cocoon-archive:\(scratch.path("snap.tar"))", "cocoon:\(scratch.path("root"))#snap").status == 0)
        #expect(try ferry("verify", "cocoon:\(scratch.path("root"))#snap").status == 0)
        // A cloud image comes down as its disk; an image has no download.
        #expect(try http("GET", "\(server.url)/dl/img").body == (try Data(contentsOf: URL(fileURLWithPath: disk))))
        let image = try http("GET", "\(server.url)/dl/app")
        #expect(image.status == 405 && image.errorCode == "UNSUPPORTED")
        #expect(try http("GET", "\(server.url)/dl/none").status == 404)
        // Epoch's blob shortcuts: a bare hex digest, and PUT of a whole blob.
        let blob = Data("a blob put whole".utf8)
        let hex = String(sha256(blob).dropFirst(7))
        #expect(try http("PUT", "\(server.url)/v2/app/blobs/sha256:\(hex)", body: blob).status == 201)
        #expect(try http("GET", "\(server.url)/v2/app/blobs/\(hex)").body == blob)
        #expect(try http("PUT", "\(server.url)/v2/app/blobs/sha256:\(String(hex.reversed()))", body: blob).errorCode == "DIGEST_INVALID")
        #expect(server.stop().status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: bucket).allSatisfy { !$0.hasPrefix(".ferry-") })
        #expect(try ferry("verify", "epoch:\(bucket)").status == 0)
    }

    @Test func sigtermLetsARequestInFlightFinishThenExits() throws {
        let scratch = try Scratch()
        let layout = scratch.path("big")
        #expect(try run("python3", [Paths.genLayout, layout, "--size-mib", "12", "--layers", "1", "--tag", "v1"]).status == 0)
        let server = try Served(["oci:\(layout)", "--grace", "30s"])
        let blob = try largestBlob(in: layout)
        // A slow download (4 MiB/s, about 3 s) is in flight when SIGTERM comes: it completes, then ferry exits 0.
        let download = try Child("curl", ["-s", "--limit-rate", "4M", "-o", scratch.path("got"), "-w", "%{http_code}", "\(server.url)/v2/big/blobs/sha256:\(blob.hex)"])
        usleep(1_000_000)
        kill(server.child.pid, SIGTERM)
        usleep(300_000)
        // No new connection is accepted once it stops.
        #expect(try run("curl", ["-s", "-m", "2", "\(server.url)/v2/"]).status != 0)
        let fetched = download.wait()
        #expect(fetched.stdout == "200")
        #expect((try? FileManager.default.attributesOfItem(atPath: scratch.path("got"))[.size] as? Int) == blob.size)
        #expect(server.stop(0).status == 0)
    }

    @Test func aKilledServerLeavesAValidLocationAndItsSpoolsAreSwept() throws {
        let scratch = try Scratch()
        let layout = scratch.path("lay")
        try FileManager.default.copyItem(atPath: Paths.fixture("skopeo-layout"), toPath: layout)
        let server = try Served(["oci:\(layout)"])
        let started = try http("POST", "\(server.url)/v2/app/blobs/uploads/")
        _ = try http("PATCH", server.url + started.headers["location"]!, body: Data(repeating: 1, count: 100_000))
        #expect(try FileManager.default.contentsOfDirectory(atPath: layout).contains { $0.hasPrefix(".ferry-") })
        server.stop(SIGKILL)
        #expect(try ferry("verify", "oci:\(layout)").status == 0)
        let again = try Served(["oci:\(layout)"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: layout).allSatisfy { !$0.hasPrefix(".ferry-") })
        #expect(try http("GET", "\(again.url)/v2/lay/tags/list").json?["tags"] as? [String] == ["v1"])
    }

    @Test func aPushInterruptedByKillingTheClientLeavesNothingVisible() throws {
        let scratch = try Scratch()
        let layout = scratch.path("lay")
        try FileManager.default.copyItem(atPath: Paths.fixture("skopeo-layout"), toPath: layout)
        let server = try Served(["oci:\(layout)"])
        let big = scratch.path("big.bin")
        try Data(repeating: 7, count: 20 << 20).write(to: URL(fileURLWithPath: big))
        let digest = sha256(try Data(contentsOf: URL(fileURLWithPath: big)))
        let upload = try Child("curl", ["-s", "--limit-rate", "4M", "-X", "POST", "--data-binary", "@" + big, "-H", "Content-Type: application/octet-stream",
                                        "\(server.url)/v2/app/blobs/uploads/?digest=\(digest)"])
        usleep(1_000_000)
        kill(upload.pid, SIGKILL)
        _ = upload.wait()
        usleep(300_000)
        #expect(try http("HEAD", "\(server.url)/v2/app/blobs/\(digest)").status == 404)
        #expect(try ferry("verify", "oci:\(layout)").status == 0)
        // The spool of the cut upload is gone with its request.
        #expect(try FileManager.default.contentsOfDirectory(atPath: layout).allSatisfy { !$0.hasPrefix(".ferry-") })
    }

    @Test func badUsageExitsTwoAndABusyPortOne() throws {
        let scratch = try Scratch()
        // A layout not made yet is an empty registry (a push makes it).
        let server = try Served(["oci:\(scratch.path("new"))"])
        #expect(try http("GET", "\(server.url)/v2/_catalog").json?["repositories"] as? [String] == [])
        let busy = try ferry("serve", "oci:\(scratch.path("other"))", "--addr", server.address)
        #expect(busy.status == 1 && busy.stderr == "ferry: --addr \(server.address): cannot listen: Address already in use\n")
        #expect(try ferry("serve").status == 2)
        #expect(try ferry("serve", "oci:/tmp/x", "--addr", "nonsense").status == 2)
        #expect(try ferry("serve", "nowhere:/x").status == 2)
        #expect(try ferry("serve", "oci:/tmp/x", "--repository", "Bad Name").status == 2)
    }
}
