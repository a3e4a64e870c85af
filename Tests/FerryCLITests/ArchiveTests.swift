import Foundation
import OCI
import Testing

/// `oci-archive:FILE[:TAG]`: layouts as tarballs, plain or compressed as the file's ending says,
/// read back with identical digests by ferry and by skopeo, reproducible byte for byte, and never
/// left half-written.
@Suite struct ArchiveTests {
    /// Every ending the writer knows, with the compression it must pick.
    static let endings = ["tar", "tar.gz", "tgz", "tar.zst"]
    static let expectedCompression = ["tar": "none", "tar.gz": "gzip", "tgz": "gzip", "tar.zst": "zstd"]

    static let umoci = Paths.fixture("umoci-layout")
    static let multiarch = Paths.fixture("multiarch-layout")
    /// umoci v2's second layer: in v2 only, so a copy of v2 into an archive holding v1 moves it.
    static let v2OnlyLayer = "blobs/sha256/01a765c31005c24e8d5f02e40f144c9455e12c8b0ec6da1b1424f1424a45b4a8"

    // MARK: helpers

    /// The digest of the summary line of `ferry copy --json`.
    private static func summaryDigest(_ result: Run) -> String? {
        jsonLines(result.stdout).last { $0["event"] as? String == "summary" }?["digest"] as? String
    }

    /// `ferry copy --json`, expecting success and the summary digest `digest`.
    private static func copy(_ arguments: [String], digest: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try run(Paths.ferry, ["copy", "--json", "--progress", "none"] + arguments)
        #expect(result.status == 0, "ferry copy \(arguments): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(summaryDigest(result) == digest, "ferry copy \(arguments): \(result.stdout)", sourceLocation: sourceLocation)
    }

    /// The digest `ferry inspect --json` reports.
    private static func inspectDigest(_ reference: String) throws -> String? {
        let result = try ferry("inspect", "--json", reference)
        return jsonLines(result.stdout).first?["digest"] as? String
    }

    /// The tags `ferry ls` prints, in order.
    private static func tags(_ location: String) throws -> [String] {
        let result = try ferry("ls", location)
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout.split(separator: "\n").map(String.init)
    }

    /// The compression a file's first bytes show: gzip, zstd, none (a tar: "ustar" at 257) or unknown.
    static func compression(of path: String) -> String {
        let bytes = Array(FileManager.default.contents(atPath: path) ?? Data())
        if bytes.starts(with: [0x1f, 0x8b]) { return "gzip" }
        if bytes.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) { return "zstd" }
        if bytes.count >= 262, Array(bytes[257..<262]) == Array("ustar".utf8) { return "none" }
        return "unknown"
    }

    /// A copy of the umoci layout whose `blob` has one byte flipped: copying what names it fails midway.
    private static func corruptedUmoci(in scratch: Scratch, blob: String) throws -> String {
        let source = scratch.path("corrupt-src")
        try FileManager.default.copyItem(atPath: umoci, toPath: source)
        let file = source + "/" + blob
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
        var bytes = try #require(FileManager.default.contents(atPath: file))
        bytes[bytes.count / 2] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: file))
        return source
    }

    /// Names in `directory` that a writer's temporary file would have.
    private static func temporaries(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix(".ferry-") || $0.hasSuffix(".tmp") }
    }

    // MARK: round trips

    @Test(arguments: endings)
    func roundTripKeepsEveryDigest(_ ending: String) throws {
        let scratch = try Scratch()
        let archive = scratch.path("images.\(ending)")
        try Self.copy(["oci:\(Self.umoci):v1", "oci-archive:\(archive):v1"], digest: InteropTests.umociV1)
        try Self.copy(["oci:\(Self.umoci):v2", "oci-archive:\(archive):v2"], digest: InteropTests.umociV2)
        try Self.copy(["--all", "oci:\(Self.multiarch):latest", "oci-archive:\(archive):multi"], digest: InteropTests.multiarch)
        #expect(Self.compression(of: archive) == Self.expectedCompression[ending])

        #expect(try Self.tags("oci-archive:\(archive)") == ["v1", "v2", "multi"])
        let verified = try ferry("verify", "oci-archive:\(archive)")
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        #expect(verified.stdout.contains("ok"))
        #expect(try ferry("verify", "oci-archive:\(archive):multi").status == 0)
        #expect(try Self.inspectDigest("oci-archive:\(archive):v1") == InteropTests.umociV1)
        #expect(try Self.inspectDigest("oci-archive:\(archive):v2") == InteropTests.umociV2)
        #expect(try Self.inspectDigest("oci-archive:\(archive):multi") == InteropTests.multiarch)

        // And back out into a directory layout: the same digests, every blob present and intact.
        let out = scratch.path("out")
        try Self.copy(["oci-archive:\(archive):v1", "oci:\(out):v1"], digest: InteropTests.umociV1)
        try Self.copy(["oci-archive:\(archive):v2", "oci:\(out):v2"], digest: InteropTests.umociV2)
        try Self.copy(["--all", "oci-archive:\(archive):multi", "oci:\(out):multi"], digest: InteropTests.multiarch)
        #expect(try Self.inspectDigest("oci:\(out):multi") == InteropTests.multiarch)
        let outVerified = try ferry("verify", "oci:\(out)")
        #expect(outVerified.status == 0, "\(outVerified.stdout)\(outVerified.stderr)")
        #expect(try skopeoDigest("oci:\(out):v2") == InteropTests.umociV2)
        // --all brought both platforms' children.
        #expect(FileManager.default.fileExists(atPath: out + "/blobs/sha256/" + InteropTests.arm64Child.dropFirst(7)))
        let fixtureBlobs = snapshot(Self.umoci).merging(snapshot(Self.multiarch)) { first, _ in first }
        for (name, bytes) in snapshot(out) where name.hasPrefix("blobs/") {
            #expect(fixtureBlobs[name] == bytes, "\(name) differs from the fixture's")
        }
    }

    @Test(arguments: endings)
    func compressionFollowsTheEndingAndReadingSniffsIt(_ ending: String) throws {
        let scratch = try Scratch()
        let archive = scratch.path("one.\(ending)")
        try Self.copy(["oci:\(Self.umoci):v1", "oci-archive:\(archive):v1"], digest: InteropTests.umociV1)
        #expect(Self.compression(of: archive) == Self.expectedCompression[ending])
        if Self.expectedCompression[ending] == "gzip" {
            // No timestamp in the gzip header (MTIME, bytes 4..<8): part of being reproducible.
            let bytes = Array(try #require(FileManager.default.contents(atPath: archive)))
            #expect(Array(bytes[4..<8]) == [0, 0, 0, 0])
        }
        // Reading does not trust the name: the same bytes under misleading endings read the same.
        for misleading in ["misnamed.tar", "misnamed.tar.gz", "misnamed.tar.zst", "misnamed"] where !archive.hasSuffix(misleading) {
            let renamed = scratch.path(misleading)
            try FileManager.default.copyItem(atPath: archive, toPath: renamed)
            #expect(try Self.inspectDigest("oci-archive:\(renamed):v1") == InteropTests.umociV1, "\(ending) as \(misleading)")
            #expect(try ferry("verify", "oci-archive:\(renamed)").status == 0, "\(ending) as \(misleading)")
            try FileManager.default.removeItem(atPath: renamed)
        }
    }

    @Test(arguments: endings)
    func writingIntoAnExistingArchiveAddsATagAndKeepsTheOthers(_ ending: String) throws {
        let scratch = try Scratch()
        let archive = scratch.path("grow.\(ending)")
        try Self.copy(["oci:\(Self.umoci):v1", "oci-archive:\(archive):v1"], digest: InteropTests.umociV1)
        #expect(try Self.tags("oci-archive:\(archive)") == ["v1"])
        try Self.copy(["oci:\(Self.umoci):v2", "oci-archive:\(archive):v2"], digest: InteropTests.umociV2)
        #expect(try Self.tags("oci-archive:\(archive)") == ["v1", "v2"])
        try Self.copy(["--all", "oci:\(Self.multiarch):latest", "oci-archive:\(archive):multi"], digest: InteropTests.multiarch)
        #expect(try Self.tags("oci-archive:\(archive)") == ["v1", "v2", "multi"])
        // Still the compression the name asks for, still whole.
        #expect(Self.compression(of: archive) == Self.expectedCompression[ending])
        let verified = try ferry("verify", "oci-archive:\(archive)")
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        // The first tag's content came across intact.
        try Self.copy(["oci-archive:\(archive):v1", "oci:\(scratch.path("v1-out"))"], digest: InteropTests.umociV1)
        #expect(try ferry("verify", "oci:\(scratch.path("v1-out"))").status == 0)
        // Retagging moves the tag and leaves the rest (the moved tag goes last, as in a directory layout).
        try Self.copy(["oci:\(Self.umoci):v2", "oci-archive:\(archive):v1"], digest: InteropTests.umociV2)
        let retagged = try Self.tags("oci-archive:\(archive)")
        #expect(retagged.count == 3 && Set(retagged) == ["v1", "v2", "multi"], "\(retagged)")
        #expect(try Self.inspectDigest("oci-archive:\(archive):v1") == InteropTests.umociV2)
        #expect(try ferry("verify", "oci-archive:\(archive)").status == 0)
        #expect(Self.temporaries(in: scratch.url.path).isEmpty)
    }

    @Test(arguments: ["tar.gz", "tar.zst"])
    func largeBlobsStreamThroughCompressedArchives(_ ending: String) throws {
        // Layers over the in-memory limit (1 MiB) take the streaming paths: reading, and carrying
        // an existing archive's blobs across when a tag is added.
        let scratch = try Scratch()
        let source = scratch.path("big-src")
        let generated = try run("python3", [Paths.genLayout, source, "--size-mib", "3", "--layers", "2", "--tag", "big", "--seed", "7"])
        #expect(generated.status == 0, "\(generated.stderr)")
        let digest = generated.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let archive = scratch.path("big.\(ending)")
        try Self.copy(["oci:\(source):big", "oci-archive:\(archive):big"], digest: digest)
        try Self.copy(["oci:\(Self.umoci):v1", "oci-archive:\(archive):v1"], digest: InteropTests.umociV1)
        #expect(try Self.tags("oci-archive:\(archive)") == ["big", "v1"])
        #expect(try ferry("verify", "oci-archive:\(archive)").status == 0)
        let out = scratch.path("out")
        try Self.copy(["oci-archive:\(archive):big", "oci:\(out):big"], digest: digest)
        let original = snapshot(source)
        for (name, bytes) in snapshot(out) where name.hasPrefix("blobs/") {
            #expect(original[name] == bytes, "\(name) differs from the source's")
        }
    }

    // MARK: reproducible

    @Test(arguments: endings)
    func sameCopiesGiveByteIdenticalArchives(_ ending: String) throws {
        let scratch = try Scratch()
        try FileManager.default.createDirectory(atPath: scratch.path("one"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: scratch.path("two"), withIntermediateDirectories: true)
        let first = scratch.path("one/first.\(ending)")
        let second = scratch.path("two/other-name.\(ending)")
        for (archive, jobs) in [(first, "1"), (second, "8")] {
            try Self.copy(["--jobs", jobs, "oci:\(Self.umoci):v1", "oci-archive:\(archive):v1"], digest: InteropTests.umociV1)
            try Self.copy(["--jobs", jobs, "oci:\(Self.umoci):v2", "oci-archive:\(archive):v2"], digest: InteropTests.umociV2)
            try Self.copy(["--all", "--jobs", jobs, "oci:\(Self.multiarch):latest", "oci-archive:\(archive):multi"], digest: InteropTests.multiarch)
            // Let a clock-dependent field (an mtime, a gzip timestamp) tick over between the two.
            Thread.sleep(forTimeInterval: 1.1)
        }
        let a = try #require(FileManager.default.contents(atPath: first))
        let b = try #require(FileManager.default.contents(atPath: second))
        #expect(a == b, "\(first) (\(a.count) bytes) and \(second) (\(b.count) bytes) differ")
    }

    // MARK: interop

    @Test(arguments: ["tar", "tar.gz"])
    func skopeoReadsWhatFerryWrites(_ ending: String) throws {
        let scratch = try Scratch()
        let archive = scratch.path("ferry.\(ending)")
        try Self.copy(["oci:\(Self.umoci):v1", "oci-archive:\(archive):v1"], digest: InteropTests.umociV1)
        try Self.copy(["oci:\(Self.umoci):v2", "oci-archive:\(archive):v2"], digest: InteropTests.umociV2)
        #expect(try skopeoDigest("oci-archive:\(archive):v2") == InteropTests.umociV2)
        let out = scratch.path("from-skopeo")
        let copied = try run("skopeo", ["copy", "-q", "--preserve-digests", "oci-archive:\(archive):v2", "oci:\(out):v2"])
        #expect(copied.status == 0, "\(copied.stderr)")
        #expect(try skopeoDigest("oci:\(out):v2") == InteropTests.umociV2)
        #expect(try ferry("verify", "oci:\(out)").status == 0)
    }

    @Test func ferryReadsWhatSkopeoWrites() throws {
        let scratch = try Scratch()
        let archive = scratch.path("skopeo.tar")
        let made = try run("skopeo", ["copy", "-q", "--preserve-digests", "oci:\(Self.umoci):v1", "oci-archive:\(archive):v1"])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(try Self.tags("oci-archive:\(archive)") == ["v1"])
        #expect(try ferry("verify", "oci-archive:\(archive)").status == 0)
        let out = scratch.path("out")
        try Self.copy(["oci-archive:\(archive):v1", "oci:\(out):v1"], digest: InteropTests.umociV1)
        #expect(try Self.inspectDigest("oci:\(out):v1") == InteropTests.umociV1)
        #expect(try skopeoDigest("oci:\(out):v1") == InteropTests.umociV1)
        // And into an archive of ferry's own, alongside what skopeo wrote.
        try Self.copy(["oci:\(Self.umoci):v2", "oci-archive:\(archive):v2"], digest: InteropTests.umociV2)
        #expect(try skopeoDigest("oci-archive:\(archive):v1") == InteropTests.umociV1)
        #expect(try skopeoDigest("oci-archive:\(archive):v2") == InteropTests.umociV2)
    }

    @Test(arguments: ["layout.tar", "layout.tgz"] + (have("zstd") ? ["layout.tar.zst"] : []))
    func ferryReadsALayoutTarredUpByGNUTar(_ file: String) throws {
        // `tar -C DIR -caf FILE .`: entries `./`, `./blobs/`, `./oci-layout`, ... with directories.
        let scratch = try Scratch()
        let archive = scratch.path(file)
        let made = try run("tar", ["-C", Self.umoci, "-caf", archive, "."])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(try Self.tags("oci-archive:\(archive)") == ["v1", "v2"])
        #expect(try ferry("verify", "oci-archive:\(archive)").status == 0)
        try Self.copy(["oci-archive:\(archive):v2", "oci:\(scratch.path("out")):v2"], digest: InteropTests.umociV2)
        try Self.copy(["oci-archive:\(archive):v1", "oci-archive:\(scratch.path("again.tar")):v1"], digest: InteropTests.umociV1)
    }

    /// gzip from other writers, read through ISA-L: `gzip -9`, pigz, Python's gzip, two members
    /// one after the other (`cat a.gz b.gz`, which gzip reads as one stream), and zero bytes of
    /// padding after the stream; every digest as in the layout.
    @Test(arguments: ["gzip-9", "pigz", "python", "two-members", "zero-padded"])
    func ferryReadsGzipFromOtherWriters(_ writer: String) throws {
        let scratch = try Scratch()
        let tar = scratch.path("layout.tar")
        #expect(try run("tar", ["-C", Self.umoci, "-cf", tar, "."]).status == 0)
        let archive = scratch.path("layout.tar.gz")
        let script = switch writer {
        case "gzip-9": "gzip -9 -c \"$1\" > \"$2\""
        case "pigz": "pigz -p 2 -c \"$1\" > \"$2\""
        case "python": "python3 -c 'import gzip, shutil, sys; shutil.copyfileobj(open(sys.argv[1], \"rb\"), gzip.open(sys.argv[2], \"wb\"))' \"$1\" \"$2\""
        case "two-members": "head -c 100000 \"$1\" | gzip -1 > \"$2\" && tail -c +100001 \"$1\" | gzip -6 >> \"$2\""
        default: "gzip -c \"$1\" > \"$2\" && head -c 4096 /dev/zero >> \"$2\""
        }
        let made = try run("sh", ["-c", script, "sh", tar, archive])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(try run("sh", ["-c", "gzip -dc \"$1\" | cmp - \"$2\"", "sh", archive, tar]).status == 0)
        #expect(try Self.tags("oci-archive:\(archive)") == ["v1", "v2"])
        #expect(try ferry("verify", "oci-archive:\(archive)").status == 0)
        try Self.copy(["oci-archive:\(archive):v2", "oci:\(scratch.path("out")):v2"], digest: InteropTests.umociV2)
    }

    /// A damaged gzip file is an error, never data: cut short, a byte changed, or gzip's magic
    /// number in front of something else.
    @Test(arguments: ["truncated", "changed", "not-gzip"])
    func damagedGzipIsAnError(_ damage: String) throws {
        let scratch = try Scratch()
        let archive = scratch.path("layout.tar.gz")
        try Self.copy(["oci:\(Self.umoci):v1", "oci-archive:\(archive):v1"], digest: InteropTests.umociV1)
        var bytes = try #require(FileManager.default.contents(atPath: archive))
        switch damage {
        case "truncated": bytes = bytes.prefix(bytes.count * 2 / 3)
        case "changed": bytes[bytes.count / 2] ^= 0x55
        default: bytes = Data([0x1f, 0x8b]) + Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919) })
        }
        try bytes.write(to: URL(fileURLWithPath: archive))
        let result = try ferry("copy", "--progress", "none", "oci-archive:\(archive):v1", "oci:\(scratch.path("out")):v1")
        #expect(result.status == 1 && result.errorLines.count == 1, "\(damage): \(result.stderr)")
        if damage != "changed" { #expect(result.stderr.contains("gzip"), "\(damage): \(result.stderr)") }
        #expect(!FileManager.default.fileExists(atPath: scratch.path("out")))
    }

    /// What ferry writes is one standard gzip member, no time in its header: `gzip -t`, Python's
    /// gzip and tarfile, and GNU tar read it.
    @Test func ferryWritesGzipThatOthersRead() throws {
        let scratch = try Scratch()
        let archive = scratch.path("layout.tar.gz")
        try Self.copy(["oci:\(Self.umoci):v1", "oci-archive:\(archive):v1"], digest: InteropTests.umociV1)
        let bytes = try #require(FileManager.default.contents(atPath: archive))
        #expect(Array(bytes.prefix(3)) == [0x1f, 0x8b, 8] && bytes[4..<8].allSatisfy { $0 == 0 })
        #expect(try run("gzip", ["-t", archive]).status == 0)
        let python = try run("python3", ["-c", "import sys, tarfile; print(sorted(m.name for m in tarfile.open(sys.argv[1], 'r:gz')))", archive])
        #expect(python.status == 0 && python.stdout.contains("index.json") && python.stdout.contains("oci-layout"), "\(python.stderr)")
        let gnu = try run("tar", ["-tzf", archive])
        #expect(gnu.status == 0 && gnu.stdout.contains("index.json"))
    }

    @Test func aFileThatIsNotALayoutArchiveIsNotWrittenInto() throws {
        let scratch = try Scratch()
        let text = scratch.path("notes.tar")
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: text))
        let otherTar = scratch.path("other.tar")
        #expect(try run("tar", ["-C", Self.umoci, "-cf", otherTar, "oci-layout"]).status == 0)
        let tarBytes = try #require(FileManager.default.contents(atPath: otherTar))
        // A tar of something else: no index.json, so not a layout.
        for (file, bytes) in [(text, Data("precious\n".utf8)), (otherTar, tarBytes)] {
            let result = try ferry("copy", "--progress", "none", "oci:\(Self.umoci):v1", "oci-archive:\(file):v1")
            #expect(result.status == 1, "\(file): \(result.stderr)")
            #expect(result.errorLines.count == 1 && result.stderr.contains(file), "\(result.stderr)")
            #expect(FileManager.default.contents(atPath: file) == bytes)
        }
        #expect(Self.temporaries(in: scratch.url.path).isEmpty)
    }

    @Test(arguments: ["tar", "tar.gz"])
    func pythonTarfileSeesAPlainLayout(_ ending: String) throws {
        let scratch = try Scratch()
        let archive = scratch.path("layout.\(ending)")
        try Self.copy(["oci:\(Self.umoci):v1", "oci-archive:\(archive):v1"], digest: InteropTests.umociV1)
        let script = """
            import json, sys, tarfile
            with tarfile.open(sys.argv[1], 'r:*') as tf:
                print(json.dumps([dict(name=m.name, mode=m.mode, uid=m.uid, gid=m.gid, uname=m.uname, gname=m.gname,
                                       mtime=m.mtime, regular=m.isreg(), size=m.size) for m in tf]))
            """
        let listed = try run("python3", ["-c", script, archive])
        #expect(listed.status == 0, "\(listed.stderr)")
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        let names = entries.compactMap { $0["name"] as? String }
        let manifest = "blobs/sha256/8d960ecee556cdc5d941f21a1c23e93586aa0f4bd8cd93e22b847ebc7463c939"
        let config = "blobs/sha256/b0073c68f88618a055b94c3de8ca81e5069acad1942ea981ebad3bcf513fc5d2"
        let layer = "blobs/sha256/b8f21b73fc6ffac9721ae79b65bc943245c22d3d20843cfeae44149cc6ce6ed7"

        #expect(names.first == "oci-layout", "\(names)")
        #expect(names.filter { $0 == "index.json" }.count == 1, "\(names)")
        // index.json right after oci-layout: a streaming reader knows the tags before any blob.
        #expect(names.count > 1 && names[1] == "index.json", "\(names)")
        let blobs = names.filter { $0 != "oci-layout" && $0 != "index.json" }
        #expect(Set(blobs) == [manifest, config, layer], "\(names)")
        for name in blobs {
            let hex = name.dropFirst("blobs/sha256/".count)
            #expect(name.hasPrefix("blobs/sha256/") && hex.count == 64 && hex.allSatisfy { "0123456789abcdef".contains($0) }, "\(name)")
        }
        // Manifests first: a streaming reader knows the graph before the layers arrive.
        if let m = names.firstIndex(of: manifest), let c = names.firstIndex(of: config), let l = names.firstIndex(of: layer) {
            #expect(m < c && m < l, "\(names)")
        }
        for entry in entries {
            let name = entry["name"] as? String ?? "?"
            #expect(((entry["mode"] as? Int) ?? -1) & 0o7777 == 0o644, "\(name): mode \(entry["mode"] ?? "nil")")
            #expect(entry["uid"] as? Int == 0 && entry["gid"] as? Int == 0, "\(name)")
            #expect(entry["uname"] as? String == "" && entry["gname"] as? String == "", "\(name)")
            #expect(entry["mtime"] as? Int == 0 || entry["mtime"] as? Double == 0, "\(name): mtime \(entry["mtime"] ?? "nil")")
            #expect(entry["regular"] as? Bool == true, "\(name)")
        }
        // Extracted with Python's safest filter, it is the layout the archive was made from.
        let extracted = scratch.path("extracted")
        let extract = try run("python3", ["-c", "import sys, tarfile; tarfile.open(sys.argv[1], 'r:*').extractall(sys.argv[2], filter='data')", archive, extracted])
        #expect(extract.status == 0, "\(extract.stderr)")
        #expect(try Self.inspectDigest("oci:\(extracted):v1") == InteropTests.umociV1)
        #expect(try ferry("verify", "oci:\(extracted)").status == 0)
        let fixture = snapshot(Self.umoci)
        for (name, bytes) in snapshot(extracted) where name.hasPrefix("blobs/") {
            #expect(fixture[name] == bytes, "\(name)")
        }
    }

    // MARK: failure leaves nothing

    @Test(arguments: endings)
    func failedCopyIntoANewArchiveLeavesNoFile(_ ending: String) throws {
        let scratch = try Scratch()
        let archive = scratch.path("new.\(ending)")

        // Fails before anything moves: a tag the source lacks.
        let missing = try ferry("copy", "--progress", "none", "oci:\(Self.umoci):v9", "oci-archive:\(archive)")
        #expect(missing.status == 1)
        #expect(missing.errorLines.count == 1 && missing.stderr.hasPrefix("ferry: ") && missing.stderr.contains("v9"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: archive))
        #expect(Self.temporaries(in: scratch.url.path).isEmpty)

        // Fails midway, with the temporary archive already begun: a layer that does not hash to its name.
        let corrupt = try Self.corruptedUmoci(in: scratch, blob: "blobs/sha256/b8f21b73fc6ffac9721ae79b65bc943245c22d3d20843cfeae44149cc6ce6ed7")
        let midway = try ferry("copy", "--progress", "none", "oci:\(corrupt):v1", "oci-archive:\(archive):v1")
        #expect(midway.status == 1)
        #expect(midway.errorLines.count == 1 && midway.stderr.contains("content hashes to"), "\(midway.stderr)")
        #expect(!FileManager.default.fileExists(atPath: archive))
        #expect(Self.temporaries(in: scratch.url.path).isEmpty, "\(Self.temporaries(in: scratch.url.path))")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path)) == ["corrupt-src"])
    }

    @Test(arguments: endings)
    func failedCopyIntoAnExistingArchiveLeavesItByteIdentical(_ ending: String) throws {
        let scratch = try Scratch()
        let archive = scratch.path("keep.\(ending)")
        try Self.copy(["oci:\(Self.umoci):v1", "oci-archive:\(archive):v1"], digest: InteropTests.umociV1)
        let before = try #require(FileManager.default.contents(atPath: archive))

        let missing = try ferry("copy", "--progress", "none", "oci:\(Self.umoci):v9", "oci-archive:\(archive):v9")
        #expect(missing.status == 1, "\(missing.stderr)")
        #expect(FileManager.default.contents(atPath: archive) == before)

        // v2 brings a layer the archive lacks; it is corrupt, so the copy fails after the old
        // entries were already streamed into the temporary archive.
        let corrupt = try Self.corruptedUmoci(in: scratch, blob: Self.v2OnlyLayer)
        let midway = try ferry("copy", "--progress", "none", "--jobs", "1", "oci:\(corrupt):v2", "oci-archive:\(archive):v2")
        #expect(midway.status == 1)
        #expect(midway.errorLines.count == 1 && midway.stderr.contains("01a765c31005") && midway.stderr.contains("content hashes to"), "\(midway.stderr)")
        #expect(FileManager.default.contents(atPath: archive) == before)
        #expect(Self.temporaries(in: scratch.url.path).isEmpty, "\(Self.temporaries(in: scratch.url.path))")
        #expect(try Self.tags("oci-archive:\(archive)") == ["v1"])
        #expect(try ferry("verify", "oci-archive:\(archive)").status == 0)
    }
}
