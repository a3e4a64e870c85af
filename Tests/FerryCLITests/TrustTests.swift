import Foundation
import OCI
import Testing

/// The rules every backend keeps (issue 11): contained, no privilege from content, a digest is a
/// promise, checks before the first write, one writer at a time, no trap on huge sizes, names
/// that cannot collide, reproducible output, clean messages. Each test reproduces a hostile or
/// careless case and asserts the rule.
@Suite struct TrustTests {
    private let fm = FileManager.default

    /// One `ferry:` line on stderr, and the exit status given.
    private func expectRefused(_ result: Run, status: Int32 = 1, mentioning words: [String] = []) {
        #expect(result.status == status, "\(result.stderr)")
        let lines = result.errorLines.filter { $0.hasPrefix("ferry: ") }
        #expect(lines.count == 1, "\(result.stderr)")
        for word in words { #expect(result.stderr.contains(word), "\(result.stderr) lacks \(word)") }
        #expect(!result.stderr.contains("Fatal error") && !result.stderr.unicodeScalars.contains { $0.value == 0x1B })
    }

    /// Every file below `directory`, for "nothing changed outside".
    private func listing(_ directory: String) -> [String] {
        (fm.enumerator(atPath: directory)?.allObjects as? [String] ?? []).sorted()
    }

    private func link(_ path: String, to target: String) throws {
        try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: path, withDestinationPath: target)
    }

    private let umoci = "oci:\(Paths.fixture("umoci-layout"))"

    // MARK: 1. containment

    @Test(arguments: ["blobs", "blobs/sha256"])
    func aSymlinkPlantedInALayoutIsNotFollowed(_ level: String) throws {
        let scratch = try Scratch()
        let destination = scratch.path("dst")
        #expect(try ferry("copy", "--progress", "none", "\(umoci):v1", "oci:\(destination):v1").status == 0)
        let outside = try plantLink(at: level, in: destination, scratch)
        expectRefused(try ferry("copy", "--progress", "none", "\(umoci):v2", "oci:\(destination):v2"), mentioning: ["symlink"])
        #expect(listing(outside).isEmpty)
        // gc through the link removes nothing outside either.
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(outside)/\(String(repeating: "a", count: 64))"))
        _ = try ferry("gc", "--grace", "0s", "oci:\(destination)")
        #expect(listing(outside) == [String(repeating: "a", count: 64)])
    }

    @Test func aSymlinkedIndexIsNotReadOrReplaced() throws {
        let scratch = try Scratch()
        let destination = scratch.path("dst")
        #expect(try ferry("copy", "--progress", "none", "\(umoci):v1", "oci:\(destination):v1").status == 0)
        let secret = scratch.path("secret.json")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: secret))
        try fm.removeItem(atPath: "\(destination)/index.json")
        try link("\(destination)/index.json", to: secret)
        expectRefused(try ferry("copy", "--progress", "none", "\(umoci):v2", "oci:\(destination):v2"))
        #expect(try String(contentsOfFile: secret, encoding: .utf8) == "{}")
    }

    /// A symlink at `level` below `location` pointing at a fresh directory outside it, which is
    /// returned (whatever stood at `level` goes first).
    private func plantLink(at level: String, in location: String, _ scratch: Scratch) throws -> String {
        let outside = scratch.path("outside")
        try fm.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try? fm.removeItem(atPath: "\(location)/\(level)")
        try link("\(location)/\(level)", to: outside)
        return outside
    }

    /// Each writable directory location, with a symlink planted at each level of it.
    @Test(arguments: [
        ("epoch", "epoch"), ("epoch", "epoch/blobs"), ("epoch", "epoch/blobs/sha256"), ("epoch", "epoch/manifests/app"),
        ("cocoon", "snapshot"), ("cocoon", "snapshot/db"), ("cocoon", "snapshot/localfile"),
    ])
    func aSymlinkPlantedInABucketOrRootIsNotFollowed(_ transport: String, _ level: String) throws {
        let scratch = try Scratch()
        let location = scratch.path(transport)
        let outside = try plantLink(at: level, in: location, scratch)
        let (source, destination) = transport == "epoch"
            ? ("\(umoci):v1", "epoch:\(location)#app:v1")
            : ("cocoon-archive:\(Paths.fixture("cocoon-export.tar"))", "cocoon:\(location)#snap")
        expectRefused(try ferry("copy", "--progress", "none", source, destination), mentioning: ["\(transport):"])
        #expect(listing(outside).isEmpty)
    }

    @Test func anIdThatLeavesTheRootIsRefused() throws {
        let scratch = try Scratch()
        let root = scratch.path("root")
        #expect(try run("python3", [Paths.genCocoon, "root", root, "--name", "snap"]).status == 0)
        let outside = scratch.path("outside")
        try fm.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try Data("secret".utf8).write(to: URL(fileURLWithPath: "\(outside)/secret"))
        let index = "\(root)/snapshot/db/snapshots.json"
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: index))) as! [String: Any]
        var snapshots = json["snapshots"] as! [String: [String: Any]]
        var record = snapshots.values.first!
        record["id"] = "../../../outside"
        record.removeValue(forKey: "data_dir")
        snapshots = ["../../../outside": record]
        json["snapshots"] = snapshots
        json["names"] = ["snap": "../../../outside"]
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: index))
        expectRefused(try ferry("inspect", "cocoon:\(root)#snap"), mentioning: ["not a cocoon id"])
        expectRefused(try ferry("sync", "--progress", "none", "cocoon:\(root)", "oci:\(scratch.path("out"))"))
        #expect(!fm.fileExists(atPath: scratch.path("out")))

        // A data_dir that names another directory is refused the same way.
        let good = scratch.path("good")
        #expect(try run("python3", [Paths.genCocoon, "root", good, "--name", "snap"]).status == 0)
        var other = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(good)/snapshot/db/snapshots.json"))) as! [String: Any]
        var records = other["snapshots"] as! [String: [String: Any]]
        let id = records.keys.first!
        records[id]!["data_dir"] = outside
        other["snapshots"] = records
        try JSONSerialization.data(withJSONObject: other).write(to: URL(fileURLWithPath: "\(good)/snapshot/db/snapshots.json"))
        expectRefused(try ferry("inspect", "cocoon:\(good)#snap"), mentioning: ["data_dir"])
    }

    @Test func aFIFOOrDeviceIsNeverReplaced() throws {
        let scratch = try Scratch()
        let fifo = scratch.path("pipe")
        #expect(mkfifo(fifo, 0o644) == 0)
        let device = scratch.path("null")
        #expect(mknod(device, S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0)
        let block = scratch.path("block")
        #expect(mknod(block, S_IFBLK | 0o600, dev_t((7 << 8) | 200)) == 0)
        let export = "cocoon-archive:\(Paths.fixture("cocoon-export.tar"))"
        for (source, destination) in [(export, "cocoon-archive:\(fifo)"), (export, "cocoon-archive:\(device)"), ("\(umoci):v1", "oci-archive:\(fifo)"),
                                      ("\(umoci):v1", "oci-archive:\(device)")] {
            expectRefused(try ferry("copy", "--progress", "none", source, destination), mentioning: ["not a regular file"])
        }
        var info = stat()
        #expect(lstat(fifo, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO)
        #expect(lstat(device, &info) == 0 && info.st_mode & S_IFMT == S_IFCHR)
        // A disk destination that is a block device is written only with --overwrite-device.
        let disk = scratch.path("disk.raw")
        #expect(try run("truncate", ["-s", "3M", disk]).status == 0)
        let image = scratch.path("image.tar")
        #expect(try ferry("copy", "--progress", "none", "disk:\(disk)", "oci-archive:\(image):v1").status == 0)
        expectRefused(try ferry("copy", "--progress", "none", "oci-archive:\(image):v1", "disk:\(block)"), mentioning: ["--overwrite-device"])
        expectRefused(try ferry("copy", "--progress", "none", "oci-archive:\(image):v1", "disk:\(fifo)"), mentioning: ["not a regular file"])
        #expect(lstat(block, &info) == 0 && info.st_mode & S_IFMT == S_IFBLK)
    }

    // MARK: 2. no privilege from content

    @Test func setuidBitsNeverTravel() throws {
        let scratch = try Scratch()
        // An export whose file carries mode 06755, written by Python's tarfile.
        let export = scratch.path("suid.tar")
        let script = """
            import io, json, sys, tarfile
            with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as tar:
                def add(name, data, mode):
                    info = tarfile.TarInfo(name); info.size = len(data); info.mode = mode
                    tar.addfile(info, io.BytesIO(data))
                add("snapshot.json", json.dumps({"config": {"name": "suid", "cpu": 1}, "version": 1}).encode(), 0o644)
                add("config.json", b"{}", 0o6755)
            """
        #expect(try run("python3", ["-c", script, export]).status == 0)
        let root = scratch.path("root")
        let restore = try ferry("copy", "--progress", "none", "cocoon-archive:\(export)", "cocoon:\(root)#suid")
        #expect(restore.status == 0, "\(restore.stderr)")
        let data = try #require(try fm.contentsOfDirectory(atPath: "\(root)/snapshot/localfile").first)
        var info = stat()
        #expect(stat("\(root)/snapshot/localfile/\(data)/config.json", &info) == 0)
        let mask = { let old = umask(0); umask(old); return old }()
        #expect(info.st_mode & 0o7000 == 0, "mode \(String(info.st_mode, radix: 8))")
        #expect(info.st_mode & 0o777 == 0o755 & ~mask)
        // Nor into an export or a snapshot config.
        let again = scratch.path("again.tar")
        #expect(try ferry("copy", "--progress", "none", "cocoon-archive:\(export)", "cocoon-archive:\(again)").status == 0)
        let members = try run("python3", ["-c", "import sys,tarfile; print(oct(tarfile.open(sys.argv[1]).getmember('config.json').mode))", again])
        #expect(members.stdout == "0o755\n")
        let inspect = try ferry("copy", "--progress", "none", "cocoon-archive:\(export)", "oci:\(scratch.path("layout")):v1")
        #expect(inspect.status == 0)
        let config = try ferry("inspect", "--json", "oci:\(scratch.path("layout")):v1")
        let summary = try JSONSerialization.jsonObject(with: Data(config.stdout.utf8)) as! [String: Any]
        let configDigest = try Digest(parsing: (summary["config"] as! [String: Any])["digest"] as! String)
        let configBytes = try Data(contentsOf: URL(fileURLWithPath: "\(scratch.path("layout"))/blobs/sha256/\(configDigest.encoded)"))
        #expect(String(decoding: configBytes, as: UTF8.self).contains("\"config.json\":{\"mode\":493}"))
    }

    // MARK: 3. a digest is a promise

    @Test func aLyingByDigestCopyIsCaught() throws {
        let scratch = try Scratch()
        let bucket = scratch.path("bucket")
        #expect(try ferry("copy", "--progress", "none", "\(umoci):v1", "epoch:\(bucket)#app:v1").status == 0)
        #expect(try ferry("copy", "--progress", "none", "\(umoci):v2", "epoch:\(bucket)#app:v2").status == 0)
        #expect(try ferry("verify", "epoch:\(bucket)").status == 0)
        let digests = "\(bucket)/epoch/manifests/app/_digests"
        let v1 = "\(digests)/sha256-\(InteropTests.umociV1.dropFirst(7)).json"
        let v2 = "\(digests)/sha256-\(InteropTests.umociV2.dropFirst(7)).json"
        // The v1 key now holds v2's bytes.
        try fm.removeItem(atPath: v1)
        try fm.copyItem(atPath: v2, toPath: v1)
        expectRefused(try ferry("copy", "--progress", "none", "epoch:\(bucket)#app@\(InteropTests.umociV1)", "oci:\(scratch.path("out"))"),
                      mentioning: [InteropTests.umociV1])
        #expect(!fm.fileExists(atPath: scratch.path("out")))
        let verify = try ferry("verify", "epoch:\(bucket)")
        #expect(verify.status == 1)
        #expect(verify.stderr.contains("sha256-\(InteropTests.umociV1.dropFirst(7)).json"))
        // A tag whose by-digest copy is missing is a fault too.
        try fm.removeItem(atPath: v1)
        let missing = try ferry("verify", "epoch:\(bucket)")
        #expect(missing.status == 1 && missing.stderr.contains("no by-digest copy"), "\(missing.stderr)")
    }

    // MARK: 4. every check before the first write

    @Test func checksThatCanFailRunBeforeAnythingIsWritten() throws {
        let scratch = try Scratch()
        // --ref-name full with a bare tag in the source.
        let layout = scratch.path("layout")
        #expect(try ferry("copy", "--progress", "none", "\(umoci):v1", "oci:\(layout):example.com/app:v1").status == 0)
        #expect(try ferry("copy", "--progress", "none", "\(umoci):v2", "oci:\(layout):v2").status == 0)
        let full = scratch.path("full")
        expectRefused(try ferry("sync", "--progress", "none", "--ref-name", "full", "oci:\(layout)", "oci:\(full)"), mentioning: ["--ref-name=full"])
        #expect(!fm.fileExists(atPath: full))

        // A corrupt catalog: nothing written, and the message names the catalog and says why.
        let bucket = scratch.path("bucket")
        try fm.createDirectory(atPath: "\(bucket)/epoch", withIntermediateDirectories: true)
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: "\(bucket)/epoch/catalog.json"))
        let corrupt = try ferry("copy", "--progress", "none", "\(umoci):v1", "epoch:\(bucket)#app:v1")
        expectRefused(corrupt, mentioning: ["catalog.json", "corrupt"])
        #expect(!corrupt.stderr.contains("DecodingError"))
        #expect(listing(bucket) == ["epoch", "epoch/catalog.json"])

        // A tag the destination cannot hold: nothing of the sync is written.
        let odd = scratch.path("odd")
        #expect(try ferry("copy", "--progress", "none", "\(umoci):v1", "oci:\(odd):example.com/app:v1").status == 0)
        var index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(odd)/index.json"))) as! [String: Any]
        var manifests = index["manifests"] as! [[String: Any]]
        var second = manifests[0]
        second["annotations"] = [AnnotationKey.refName: "example.com/app:bad tag!"]
        manifests.insert(second, at: 0)
        index["manifests"] = manifests
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: "\(odd)/index.json"))
        let fresh = scratch.path("fresh")
        expectRefused(try ferry("sync", "--progress", "none", "oci:\(odd)", "epoch:\(fresh)"), mentioning: ["bad tag!"])
        #expect(listing(fresh).filter { $0.contains("blobs/sha256/") || $0.hasSuffix(".json") }.isEmpty)
    }

    // MARK: 5. one writer at a time

    @Test func twoWritersOfOneArchiveKeepBothTags() throws {
        let scratch = try Scratch()
        for round in 0..<3 {
            let archive = scratch.path("both-\(round).tar")
            let first = try Child(Paths.ferry, ["copy", "--progress", "none", "\(umoci):v1", "oci-archive:\(archive):v1"])
            let second = try Child(Paths.ferry, ["copy", "--progress", "none", "\(umoci):v2", "oci-archive:\(archive):v2"])
            let (a, b) = (first.wait(), second.wait())
            #expect(a.status == 0 && b.status == 0, "\(a.stderr) \(b.stderr)")
            #expect(Set(try ferry("ls", "oci-archive:\(archive)").stdout.split(separator: "\n")) == ["v1", "v2"])
            #expect(try ferry("verify", "oci-archive:\(archive)").status == 0)
            #expect(listing(scratch.url.path).allSatisfy { !$0.hasPrefix(".") }, "\(listing(scratch.url.path))")
        }
    }

    // MARK: 6. arithmetic never traps

    /// A layout with one image whose layers are given.
    private func layout(layers: [Int64], in scratch: Scratch) throws -> String {
        let directory = scratch.path("huge")
        try fm.createDirectory(atPath: "\(directory)/blobs/sha256", withIntermediateDirectories: true)
        let config = Array("{}".utf8)
        try Data(config).write(to: URL(fileURLWithPath: "\(directory)/blobs/sha256/\(Digest.compute(config).encoded)"))
        let layerDescriptors = layers.enumerated().map { index, size -> [String: Any] in
            ["mediaType": MediaType.imageLayer, "digest": Digest.compute(Array("layer \(index)".utf8)).description, "size": size]
        }
        let manifest = try JSONSerialization.data(withJSONObject: [
            "schemaVersion": 2, "mediaType": MediaType.imageManifest,
            "config": ["mediaType": MediaType.imageConfig, "digest": Digest.compute(config).description, "size": 2],
            "layers": layerDescriptors,
        ] as [String: Any])
        let digest = Digest.compute(Array(manifest))
        try manifest.write(to: URL(fileURLWithPath: "\(directory)/blobs/sha256/\(digest.encoded)"))
        let index = try JSONSerialization.data(withJSONObject: [
            "schemaVersion": 2,
            "manifests": [["mediaType": MediaType.imageManifest, "digest": digest.description, "size": manifest.count,
                           "annotations": [AnnotationKey.refName: "v1"]]],
        ] as [String: Any])
        try index.write(to: URL(fileURLWithPath: "\(directory)/index.json"))
        try Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8).write(to: URL(fileURLWithPath: "\(directory)/oci-layout"))
        return directory
    }

    @Test func sizesPastInt64AreErrorsNotCrashes() throws {
        let scratch = try Scratch()
        // One size past any blob, and many sizes that add up past Int64.max.
        for layers in [[Int64.max], [Int64](repeating: Descriptor.maximumSize, count: 2100)] {
            let source = try layout(layers: layers, in: scratch)
            for command in [["inspect", "oci:\(source):v1"], ["copy", "--progress", "none", "oci:\(source):v1", "oci:\(scratch.path("out")):v1"]] {
                let result = try ferry(command)
                expectRefused(result)
                #expect(result.status == 1)
            }
            #expect(!fm.fileExists(atPath: scratch.path("out")))
            try fm.removeItem(atPath: source)
        }
        let created = try ferry("copy", "--progress", "none", "--created", "9223372036854775807",
                                "cocoon-archive:\(Paths.fixture("cocoon-export.tar"))", "oci-archive:\(scratch.path("x.tar"))")
        expectRefused(created, status: 2, mentioning: ["--created"])
        #expect(!fm.fileExists(atPath: scratch.path("x.tar")))
    }

    // MARK: 8. reproducible

    @Test func copiesOfOneArchiveAreByteIdentical() throws {
        let scratch = try Scratch()
        let source = scratch.path("src.tar.gz")
        #expect(try ferry("sync", "--progress", "none", "oci:\(Paths.fixture("multiarch-layout"))", "oci-archive:\(source)").status == 0)
        var outputs: [String] = []
        for round in 0..<5 {
            let out = scratch.path("out-\(round).tar")
            let result = try ferry("sync", "--progress", "none", "oci-archive:\(source)", "oci-archive:\(out)")
            #expect(result.status == 0, "\(result.stderr)")
            outputs.append(out)
        }
        for other in outputs.dropFirst() { #expect(try run("cmp", [outputs[0], other]).status == 0) }
    }

    // MARK: 9. clean messages

    @Test func controlCharactersFromContentAreNeverPrinted() throws {
        let scratch = try Scratch()
        let layout = scratch.path("layout")
        #expect(try ferry("copy", "--progress", "none", "\(umoci):v1", "oci:\(layout):v1").status == 0)
        let indexPath = "\(layout)/index.json"
        let text = try String(contentsOfFile: indexPath, encoding: .utf8).replacingOccurrences(of: "\"v1\"", with: "\"\\u001b[31mred\\u001b[0m\"")
        try text.write(toFile: indexPath, atomically: true, encoding: .utf8)
        let result = try ferry("copy", "--progress", "none", "oci:\(layout):nope", "oci:\(scratch.path("out"))")
        expectRefused(result, mentioning: ["\\u{1B}[31mred"])
    }

    @Test func everyErrorNamesItsLocation() throws {
        let scratch = try Scratch()
        let empty = scratch.path("empty.tar")
        fm.createFile(atPath: empty, contents: Data())
        expectRefused(try ferry("inspect", "oci-archive:\(empty)"), mentioning: ["oci-archive:\(empty)"])
        expectRefused(try ferry("copy", "--progress", "none", "\(umoci):v1", "epoch:/proc/nonexistent/bucket#app:v1"),
                      mentioning: ["epoch:/proc/nonexistent/bucket", "cannot create the bucket directory", "does not exist"])
    }

    @Test func anXzArchiveIsXz() throws {
        let scratch = try Scratch()
        let archive = scratch.path("image.tar.xz")
        #expect(try ferry("copy", "--progress", "none", "\(umoci):v1", "oci-archive:\(archive):v1").status == 0)
        #expect(try run("python3", ["-c", "import sys,tarfile; tarfile.open(sys.argv[1], 'r:xz').getnames()", archive]).status == 0)
        expectRefused(try ferry("copy", "--progress", "none", "\(umoci):v1", "oci-archive:\(scratch.path("image.tar.bz2")):v1"), mentioning: [".bz2"])
    }

    @Test func epochPathIsADirectoryInEveryCommand() throws {
        let scratch = try Scratch()
        #expect(try ferry("copy", "--progress", "none", "\(umoci):v1", "epoch:\(scratch.path("bkt"))#app:v1").status == 0)
        let listed = try run("sh", ["-c", "cd '\(scratch.url.path)' && '\(Paths.ferry)' ls epoch:bkt"])
        #expect(listed.stdout == "app\n", "\(listed.stderr)")
        let verified = try run("sh", ["-c", "cd '\(scratch.url.path)' && '\(Paths.ferry)' verify epoch:bkt"])
        #expect(verified.status == 0, "\(verified.stderr)")
        #expect(verified.stdout.contains("1 manifest(s)"), "\(verified.stdout)")
    }
}
