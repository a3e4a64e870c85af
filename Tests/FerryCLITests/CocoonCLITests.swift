import Foundation
import Testing

/// cocoon: and cocoon-archive: end to end, against snapshots written and read back by an
/// independent program (scripts/gen-cocoon.py: Python's tarfile, json, truncate and pwrite).
@Suite struct CocoonCLITests {
    /// `gen-cocoon.py files DIR`: name → size, allocated bytes, mode.
    private func files(_ directory: String) throws -> [String: [String: Int]] {
        let result = try run("python3", [Paths.genCocoon, "files", directory])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: [String: Any]]
        return object.mapValues { ["size": $0["size"] as! Int, "allocated": $0["allocated"] as! Int, "mode": $0["mode"] as! Int] }
    }

    private func index(_ root: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(root)/snapshot/db/snapshots.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// The data directory of the snapshot `name` in a root, from its record.
    private func dataDir(_ root: String, _ name: String) throws -> String? {
        let index = try index(root)
        guard let id = (index["names"] as? [String: String])?[name],
              let record = (index["snapshots"] as? [String: [String: Any]])?[id] else { return nil }
        return record["data_dir"] as? String
    }

    @Test func aSnapshotTravelsArchiveToLayoutToBucketToRootAndComesBackIdenticalAndSparse() throws {
        let scratch = try Scratch()
        // 1 GiB long, 8 MiB of data: a sparse disk whose restored copy must stay sparse.
        let source = scratch.path("src")
        #expect(try run("python3", [Paths.genCocoon, "root", source, "--name", "mysnap", "--disk-size", "\(1 << 30)", "--disk-data", "\(8 << 20)"]).status == 0)
        let export = scratch.path("mysnap.tar")
        #expect(try ferry("copy", "--progress", "none", "cocoon:\(source)#mysnap", "cocoon-archive:\(export)").status == 0)
        // The archive carries only the data: far below the disk's length.
        let archiveSize = try FileManager.default.attributesOfItem(atPath: export)[.size] as! Int
        #expect(archiveSize < 32 << 20)

        let layout = scratch.path("snap-oci.tar")
        let bucket = scratch.path("bucket")
        let root = scratch.path("dst")
        for (from, to) in [("cocoon-archive:\(export)", "oci-archive:\(layout):v1"), ("oci-archive:\(layout):v1", "epoch:\(bucket)#snaps/mysnap:v1"),
                           ("epoch:\(bucket)#snaps/mysnap:v1", "cocoon:\(root)#restored")] {
            let step = try ferry("copy", "--progress", "none", from, to)
            #expect(step.status == 0, "\(from) -> \(to): \(step.stderr)")
        }
        let original = try #require(try dataDir(source, "mysnap"))
        let restored = try #require(try dataDir(root, "restored"))
        #expect(restored.hasPrefix("/") && FileManager.default.fileExists(atPath: restored))
        for name in try FileManager.default.contentsOfDirectory(atPath: original) {
            #expect(try run("cmp", ["\(original)/\(name)", "\(restored)/\(name)"]).status == 0, "\(name) differs")
        }
        let before = try files(original), after = try files(restored)
        #expect(Set(before.keys) == Set(after.keys))
        for (name, info) in before {
            #expect(after[name]?["size"] == info["size"] && after[name]?["mode"] == info["mode"], "\(name)")
        }
        // The disk is sparse again: allocated close to its data, not its length.
        #expect(after["overlay.qcow2"]!["size"] == 1 << 30)
        #expect(after["overlay.qcow2"]!["allocated"]! < 16 << 20)
        let index = try index(root)
        let record = (index["snapshots"] as! [String: [String: Any]]).values.first!
        #expect(record["name"] as? String == "restored" && record["pending"] == nil)
        #expect(record["queue_size"] as? Int == 256 && record["no_direct_io"] as? Bool == true)
    }

    @Test func anExportIsWhatCocoonWritesAsPythonsTarfileReadsIt() throws {
        let scratch = try Scratch()
        let source = scratch.path("root")
        #expect(try run("python3", [Paths.genCocoon, "root", source, "--name", "mysnap"]).status == 0)
        for name in ["out.tar", "out.tar.gz"] {
            let export = scratch.path(name)
            let copy = try ferry("copy", "--progress", "none", "cocoon:\(source)#mysnap", "cocoon-archive:\(export)")
            #expect(copy.status == 0, "\(copy.stderr)")
            let check = try run("python3", [Paths.genCocoon, "check-export", export])
            #expect(check.status == 0, "\(check.stderr)")
            let summary = try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as! [String: Any]
            let members = summary["members"] as! [[String: Any]]
            #expect(members.first?["name"] as? String == "snapshot.json")
            #expect(members.first?["mode"] as? Int == 0o644)
            #expect(members.map { $0["name"] as! String } == ["snapshot.json", "cidata.img", "cocoon.json", "config.json", "memory-ranges", "overlay.qcow2", "state.json"])
            let disk = members.first { $0["name"] as? String == "overlay.qcow2" }!
            let pax = disk["pax"] as! [String: String]
            #expect(pax["COCOON.sparse.size"] == "\(64 << 20)")
            #expect(pax["COCOON.sparse.map"]?.hasPrefix("[{\"o\":0,\"l\":262144},") == true)
            #expect(disk["size"] as? Int == 1 << 20)
            #expect(members.first { $0["name"] as? String == "cocoon.json" }?["mode"] as? Int == 0o600)
            let envelope = summary["envelope"] as! [String: Any]
            #expect(envelope["version"] as? Int == 1)
            #expect((envelope["config"] as? [String: Any])?["name"] as? String == "mysnap")
        }
    }

    @Test func manifestAndConfigFollowTheSnapshotSchemaAsPythonReadsThem() throws {
        let scratch = try Scratch()
        let export = scratch.path("snap.tar")
        #expect(try run("python3", [Paths.genCocoon, "export", export, "--name", "mysnap"]).status == 0)
        let layout = scratch.path("layout")
        #expect(try ferry("copy", "--progress", "none", "--base-image", "ghcr.io/cocoonstack/cocoon/ubuntu:24.04", "--source", "https://example.com/r",
                          "--revision", "abc123", "--created", "2026-04-24T00:00:00Z", "cocoon-archive:\(export)", "oci:\(layout):v1").status == 0)
        let script = """
            import json, sys, hashlib
            layout = sys.argv[1]
            index = json.load(open(layout + "/index.json"))
            def blob(d): return open(layout + "/blobs/sha256/" + d["digest"].split(":")[1], "rb").read()
            raw = blob(index["manifests"][0])
            m = json.loads(raw)
            assert list(m) == ["schemaVersion", "mediaType", "artifactType", "config", "layers", "annotations"], list(m)
            assert m["artifactType"] == "application/vnd.cocoonstack.snapshot.v1+json"
            assert raw.startswith(b'{\\n  "schemaVersion": 2,') and not raw.endswith(b"\\n")
            assert list(m["config"]) == ["mediaType", "digest", "size"]
            assert m["config"]["mediaType"] == "application/vnd.cocoonstack.snapshot.config.v1+json"
            types = {"config.json": "application/vnd.cocoonstack.vm.config+json", "state.json": "application/vnd.cocoonstack.vm.state+json",
                     "memory-ranges": "application/vnd.cocoonstack.vm.memory", "cidata.img": "application/vnd.cocoonstack.vm.cidata",
                     "overlay.qcow2": "application/vnd.cocoonstack.disk.qcow2", "cocoon.json": "application/octet-stream"}
            for l in m["layers"]:
                assert list(l) == ["mediaType", "digest", "size", "annotations"], list(l)
                title = l["annotations"]["org.opencontainers.image.title"]
                assert list(l["annotations"]) == ["org.opencontainers.image.title"]
                assert l["mediaType"] == types[title], (title, l["mediaType"])
                assert hashlib.sha256(blob(l)).hexdigest() == l["digest"].split(":")[1] and len(blob(l)) == l["size"]
            a = m["annotations"]
            assert a["org.opencontainers.image.created"] == "2026-04-24T00:00:00Z"
            assert a["cocoonstack.snapshot.baseimage"] == "ghcr.io/cocoonstack/cocoon/ubuntu:24.04"
            assert a["org.opencontainers.image.source"] == "https://example.com/r" and a["org.opencontainers.image.revision"] == "abc123"
            craw = blob(m["config"])
            c = json.loads(craw)
            assert b"\\n" not in craw and b": " not in craw
            order = ["schemaVersion", "snapshotId", "description", "image", "imageDigest", "imageType", "imageBlobIds", "hypervisor",
                     "cpu", "memory", "storage", "nics", "network", "windows", "queueSize", "diskQueueSize", "noDirectIO", "files", "createdAt"]
            assert [k for k in c] == [k for k in order if k in c], list(c)
            assert c["schemaVersion"] == "v1" and len(c["snapshotId"]) == 26 and c["createdAt"] == "2026-04-24T00:00:00Z"
            assert c["cpu"] == 2 and c["memory"] == 2147483648 and c["nics"] == 1 and c["hypervisor"] == "cloud-hypervisor"
            assert c["queueSize"] == 256 and c["diskQueueSize"] == 128 and c["noDirectIO"] is True
            f = c["files"]
            assert f["cocoon.json"] == {"mode": 384} and f["config.json"] == {"mode": 420}
            disk = f["overlay.qcow2"]
            assert list(disk) == ["mode", "sparseMap", "sparseSize"] and disk["sparseSize"] == 64 << 20
            runs = json.loads(disk["sparseMap"])
            assert runs[0] == {"o": 0, "l": 262144} and sum(r["l"] for r in runs) == [l for l in m["layers"] if l["annotations"]["org.opencontainers.image.title"] == "overlay.qcow2"][0]["size"]
            print("ok")
            """
        let check = try run("python3", ["-c", script, layout])
        #expect(check.stdout == "ok\n", "\(check.stderr)")
    }

    @Test func aFixedCreationTimeMakesTheArtifactReproducible() throws {
        let scratch = try Scratch()
        let source = scratch.path("root")
        #expect(try run("python3", [Paths.genCocoon, "root", source, "--name", "mysnap"]).status == 0)
        let digest = { (extra: [String]) throws -> String in
            let result = try run("/usr/bin/env", extra + [Paths.ferry, "inspect", "--json", "cocoon:\(source)#mysnap"])
            return (jsonLines(result.stdout).first?["digest"] as? String) ?? "none: \(result.stderr)"
        }
        let fixed = try digest(["SOURCE_DATE_EPOCH=1776988800"])
        #expect(fixed.hasPrefix("sha256:"))
        #expect(try digest(["SOURCE_DATE_EPOCH=1776988800"]) == fixed)
        let flag = try ferry("inspect", "--json", "--created", "2026-04-24T00:00:00Z", "cocoon:\(source)#mysnap")
        #expect(jsonLines(flag.stdout).first?["digest"] as? String == fixed)
        // A copy into a layout stores that very manifest.
        #expect(try ferry("copy", "--progress", "none", "--created", "1776988800", "cocoon:\(source)#mysnap", "oci:\(scratch.path("l")):v1").status == 0)
        #expect(jsonLines(try ferry("inspect", "--json", "oci:\(scratch.path("l")):v1").stdout).first?["digest"] as? String == fixed)
    }

    @Test func aGzipExportFromFirecrackerIsReadInOnePass() throws {
        let scratch = try Scratch()
        let export = scratch.path("fc.tar.gz")
        #expect(try run("python3", [Paths.genCocoon, "export", export, "--gzip", "--hypervisor", "firecracker", "--name", "fcsnap", "--envelope-order", "epoch"]).status == 0)
        #expect(try ferry("ls", "cocoon-archive:\(export)").stdout == "fcsnap\n")
        let root = scratch.path("root")
        let copy = try ferry("copy", "--progress", "none", "cocoon-archive:\(export)", "cocoon:\(root)#fc")
        #expect(copy.status == 0, "\(copy.stderr)")
        let restored = try #require(try dataDir(root, "fc"))
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: restored)) == ["cocoon.json", "cow.raw", "mem", "vmstate"])
        let hypervisor = ((try index(root)["snapshots"] as! [String: [String: Any]]).values.first?["hypervisor"] as? String)
        #expect(hypervisor == "firecracker")
    }

    @Test func nameCollisionsAndFailedCopiesLeaveTheRootAsItWas() throws {
        let scratch = try Scratch()
        let root = scratch.path("root")
        #expect(try run("python3", [Paths.genCocoon, "root", root, "--name", "taken"]).status == 0)
        let export = scratch.path("snap.tar")
        #expect(try run("python3", [Paths.genCocoon, "export", export, "--seed", "3"]).status == 0)
        let before = snapshot(root)

        let taken = try ferry("copy", "--progress", "none", "cocoon-archive:\(export)", "cocoon:\(root)#taken")
        #expect(taken.status == 1)
        #expect(taken.errorLines == ["ferry: cocoon:\(root)#taken: the name is already in use by snapshot \(try #require((try index(root)["names"] as? [String: String])?["taken"]))"])
        #expect(snapshot(root) == before)

        // A layer damaged in the source: the copy fails part way, and neither a record nor a
        // directory is left behind.
        let layout = scratch.path("layout")
        #expect(try ferry("copy", "--progress", "none", "cocoon-archive:\(export)", "oci:\(layout):v1").status == 0)
        let blobs = "\(layout)/blobs/sha256"
        let largest = try FileManager.default.contentsOfDirectory(atPath: blobs).max {
            (try! FileManager.default.attributesOfItem(atPath: "\(blobs)/\($0)")[.size] as! Int) < (try! FileManager.default.attributesOfItem(atPath: "\(blobs)/\($1)")[.size] as! Int)
        }!
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(blobs)/\(largest)"))
        try handle.seek(toOffset: 1000)
        handle.write(Data([0x42, 0x42]))
        try handle.close()
        let broken = try ferry("copy", "--progress", "none", "oci:\(layout):v1", "cocoon:\(root)#fresh")
        #expect(broken.status == 1)
        #expect(broken.errorLines.count == 1 && broken.stderr.contains("oci:\(layout)"), "\(broken.stderr)")
        #expect(snapshot(root) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/snapshot/localfile").count == 1)

        // Not a snapshot at all.
        let image = try ferry("copy", "--progress", "none", "oci:\(Paths.fixture("umoci-layout")):v1", "cocoon:\(root)#image")
        #expect(image.status == 1 && image.stderr.contains("container-image, not a cocoon snapshot"), "\(image.stderr)")
        #expect(snapshot(root) == before)
    }

    @Test func badArchivesGetOneLineAndNoOutput() throws {
        let scratch = try Scratch()
        let noEnvelope = scratch.path("plain.tar")
        #expect(try run("tar", ["-cf", noEnvelope, "-C", Paths.packageRoot.path, "Package.swift"]).status == 0)
        let cases: [(String, String)] = [
            ("/etc/hostname", "not a tar archive"),
            (noEnvelope, "snapshot.json not found"),
            (scratch.path("absent.tar"), "no such file"),
        ]
        for (file, problem) in cases {
            let result = try ferry("copy", "--progress", "none", "cocoon-archive:\(file)", "oci:\(scratch.path("out")):v1")
            #expect(result.status == 1)
            #expect(result.errorLines.count == 1 && result.stderr.hasPrefix("ferry: cocoon-archive:\(file)") && result.stderr.contains(problem), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: scratch.path("out")))
        }
    }

    @Test func cocoonResolvesIdsNamesAndPrefixesAsCocoonDoes() throws {
        let scratch = try Scratch()
        let root = scratch.path("root")
        let first = try run("python3", [Paths.genCocoon, "root", root, "--name", "one", "--seed", "1"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let second = try run("python3", [Paths.genCocoon, "root", root, "--name", "two", "--seed", "2", "--legacy-id"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(first.count == 26 && second.count == 16)
        #expect(try ferry("ls", "cocoon:\(root)").stdout == "one\ntwo\n")
        let byName = jsonLines(try ferry("inspect", "--json", "--created", "0", "cocoon:\(root)#one").stdout).first?["digest"] as? String
        #expect(byName != nil)
        #expect(jsonLines(try ferry("inspect", "--json", "--created", "0", "cocoon:\(root)#\(first)").stdout).first?["digest"] as? String == byName)
        #expect(jsonLines(try ferry("inspect", "--json", "--created", "0", "cocoon:\(root)#\(first.prefix(5))").stdout).first?["digest"] as? String == byName)
        let missing = try ferry("inspect", "cocoon:\(root)#nope")
        #expect(missing.status == 1 && missing.stderr == "ferry: cocoon:\(root)#nope: snapshot not found\n")
        // COCOON_ROOT_DIR is the default root.
        let viaEnv = try run("/usr/bin/env", ["COCOON_ROOT_DIR=\(root)", Paths.ferry, "ls", "cocoon:"])
        #expect(viaEnv.stdout == "one\ntwo\n", "\(viaEnv.stderr)")
    }

    /// The shipped export and a root written from the same seed are one snapshot: with a fixed
    /// time they give the same artifact, whose digest is pinned here (fixtures/README.md).
    @Test func theShippedExportAndAnEquivalentRootGiveThePinnedDigest() throws {
        let scratch = try Scratch()
        let root = scratch.path("root")
        #expect(try run("python3", [Paths.genCocoon, "root", root, "--name", "mysnap", "--seed", "1"]).status == 0)
        let pinned = "sha256:27e235a612d22e6e405da9a77eab9e7072f6967a4fb37886d21e0b93019f8266"
        for reference in ["cocoon-archive:\(Paths.fixture("cocoon-export.tar"))", "cocoon:\(root)#mysnap"] {
            let result = try ferry("inspect", "--json", "--created", "2026-04-24T00:00:00Z", reference)
            #expect(jsonLines(result.stdout).first?["digest"] as? String == pinned, "\(reference): \(result.stderr)")
        }
        let gzip = try ferry("inspect", "--json", "--created", "2026-04-24T00:00:00Z", "cocoon-archive:\(Paths.fixture("cocoon-export-fc.tar.gz"))")
        #expect(jsonLines(gzip.stdout).first?["digest"] as? String == "sha256:1b50c734050aa2f384d7c28b9daa58b4d0221baf43642fdc905ef6c70d752c2a")
    }

    /// A bucket of snapshots mirrored into a cocoon root and back out: one snapshot per
    /// repository, every name checked before anything is written.
    @Test func syncCarriesEverySnapshotOfABucketIntoARootAndBack() throws {
        let scratch = try Scratch()
        let bucket = scratch.path("bucket")
        for (name, seed) in [("web", "5"), ("db", "6")] {
            let export = scratch.path("\(name).tar")
            #expect(try run("python3", [Paths.genCocoon, "export", export, "--name", name, "--seed", seed]).status == 0)
            #expect(try ferry("copy", "--progress", "none", "cocoon-archive:\(export)", "epoch:\(bucket)#\(name):latest").status == 0)
        }
        let root = scratch.path("root")
        let sync = try ferry("sync", "--progress", "none", "epoch:\(bucket)", "cocoon:\(root)")
        #expect(sync.status == 0, "\(sync.stderr)")
        #expect(try ferry("ls", "cocoon:\(root)").stdout == "db\nweb\n")
        #expect(try dataDir(root, "web") != nil && dataDir(root, "db") != nil)
        // Again: both names are taken now, so nothing is written and the root is as it was.
        let before = snapshot(root)
        let again = try ferry("sync", "--progress", "none", "epoch:\(bucket)", "cocoon:\(root)")
        #expect(again.status == 1 && again.stderr.contains("already in use"), "\(again.stderr)")
        #expect(snapshot(root) == before)
        // And back out: a root syncs into a fresh bucket, one repository per snapshot.
        let mirror = scratch.path("mirror")
        #expect(try ferry("sync", "--progress", "none", "--created", "0", "cocoon:\(root)", "epoch:\(mirror)").status == 0)
        #expect(try ferry("ls", "epoch:\(mirror)").stdout == "db\nweb\n")
        #expect(try ferry("verify", "epoch:\(mirror)").status == 0)
    }

    /// While the files are written, the snapshot is a pending record (so cocoon's garbage
    /// collector and readers leave it alone) whose data directory exists; then it is complete.
    @Test func theRecordIsPendingWhileTheFilesAreWritten() throws {
        let scratch = try Scratch()
        let export = scratch.path("big.tar.gz")
        #expect(try run("python3", [Paths.genCocoon, "export", export, "--gzip", "--name", "big", "--disk-data", "\(256 << 20)", "--disk-size", "\(1 << 30)"]).status == 0)
        let root = scratch.path("root")
        let copy = try Child(Paths.ferry, ["copy", "--progress", "none", "cocoon-archive:\(export)", "cocoon:\(root)#big"])
        var sawPending = false
        while copy.isRunning, !sawPending {
            if let data = FileManager.default.contents(atPath: "\(root)/snapshot/db/snapshots.json"),
               let index = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
               let record = (index["snapshots"] as? [String: [String: Any]])?.values.first, record["pending"] as? Bool == true {
                sawPending = FileManager.default.fileExists(atPath: record["data_dir"] as! String)
                // Cocoon does not resolve a pending snapshot, nor does Ferry.
                #expect(try ferry("inspect", "cocoon:\(root)#big").status == 1)
            }
            usleep(10_000)
        }
        #expect(copy.wait().status == 0)
        #expect(sawPending)
        let record = ((try index(root)["snapshots"] as! [String: [String: Any]]).values.first)!
        #expect(record["pending"] == nil && record["name"] as? String == "big")
    }
}
