import Foundation
import Testing

/// Bad input gets one line `ferry: <what>: <why>`, exit 1 (2 for bad usage), and the destination
/// is left as it was.
@Suite struct BadInputTests {
    private func expectOneLineFailure(_ result: Run, mentioning words: [String], status: Int32 = 1) {
        #expect(result.status == status, "\(result.stderr)")
        // Progress lines may come first (stderr is not a terminal); the error is one line, last.
        let errors = result.errorLines.filter { $0.hasPrefix("ferry: ") }
        #expect(errors.count == 1 && result.errorLines.last?.hasPrefix("ferry: ") == true, "\(result.stderr)")
        for word in words { #expect(result.stderr.contains(word), "\(result.stderr) lacks \(word)") }
        #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Stack dump"))
    }

    @Test func missingTag() throws {
        let scratch = try Scratch()
        let result = try ferry("copy", "oci:\(Paths.fixture("umoci-layout")):v9", "oci:\(scratch.path("dst"))")
        expectOneLineFailure(result, mentioning: ["v9", "umoci-layout", "v1", "v2"])
        #expect(!FileManager.default.fileExists(atPath: scratch.path("dst")))
    }

    @Test(arguments: ["oci:", "nowhere", "ftp:x", "oci:dir:Bad Tag!", "docker://host.example", "epoch:Upper/Case:v1", "oci:dir@sha256:abc"])
    func malformedReference(_ reference: String) throws {
        let scratch = try Scratch()
        let result = try ferry("copy", reference, "oci:\(scratch.path("dst"))")
        expectOneLineFailure(result, mentioning: [reference], status: 2)
        #expect(!FileManager.default.fileExists(atPath: scratch.path("dst")))
    }

    @Test func badUsageExitsTwo() throws {
        #expect(try ferry("copy", "--no-such-flag", "oci:a", "oci:b").status == 2)
        #expect(try ferry("copy", "oci:only-one").status == 2)
        #expect(try ferry("copy", "--jobs", "0", "oci:a", "oci:b").status == 2)
    }

    @Test func corruptIndexJSON() throws {
        let scratch = try Scratch()
        let source = scratch.path("src")
        try FileManager.default.copyItem(atPath: Paths.fixture("umoci-layout"), toPath: source)
        try Data("{\"schemaVersion\":2,\"manifests\":[{".utf8).write(to: URL(fileURLWithPath: source + "/index.json"))
        let dst = scratch.path("dst")
        expectOneLineFailure(try ferry("copy", "oci:\(source):v1", "oci:\(dst)"), mentioning: ["index.json", source])
        #expect(!FileManager.default.fileExists(atPath: dst))
        expectOneLineFailure(try ferry("inspect", "oci:\(source):v1"), mentioning: ["index.json"])
    }

    @Test func blobNotMatchingItsName() throws {
        let scratch = try Scratch()
        let source = scratch.path("src")
        try FileManager.default.copyItem(atPath: Paths.fixture("umoci-layout"), toPath: source)
        let layer = source + "/blobs/sha256/b8f21b73fc6ffac9721ae79b65bc943245c22d3d20843cfeae44149cc6ce6ed7"
        var bytes = try #require(FileManager.default.contents(atPath: layer))
        bytes[bytes.count / 2] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: layer))

        // Into a new destination: nothing is left behind.
        let fresh = scratch.path("fresh")
        expectOneLineFailure(try ferry("copy", "oci:\(source):v1", "oci:\(fresh)"), mentioning: ["b8f21b73fc6f", "content hashes to", source])
        #expect(!FileManager.default.fileExists(atPath: fresh))

        // Into an existing layout: it stays exactly as it was, blobs included.
        let existing = scratch.path("existing")
        #expect(try run("python3", [Paths.genLayout, existing, "--size-mib", "2", "--layers", "2", "--tag", "keep"]).status == 0)
        let before = snapshot(existing)
        expectOneLineFailure(try ferry("copy", "--jobs", "1", "oci:\(source):v1", "oci:\(existing):new"), mentioning: ["content hashes to"])
        #expect(snapshot(existing) == before)
        #expect(try ferry("ls", "oci:\(existing)").stdout == "keep\n")
        #expect(try ferry("verify", "oci:\(existing)").status == 0)
    }

    @Test func missingLayoutAndNotALayout() throws {
        let scratch = try Scratch()
        expectOneLineFailure(try ferry("inspect", "oci:\(scratch.path("absent")):v1"), mentioning: ["absent"])
        // A non-empty directory that is not a layout is not written into.
        let notLayout = scratch.path("home")
        try FileManager.default.createDirectory(atPath: notLayout, withIntermediateDirectories: true)
        try Data("precious".utf8).write(to: URL(fileURLWithPath: notLayout + "/notes.txt"))
        expectOneLineFailure(try ferry("copy", "oci:\(Paths.fixture("umoci-layout")):v1", "oci:\(notLayout)"), mentioning: ["not an OCI layout"])
        #expect(snapshot(notLayout).keys.sorted() == ["notes.txt"])
    }

    @Test func ambiguousOrMissingSelector() throws {
        let ambiguous = try ferry("inspect", "oci:\(Paths.fixture("umoci-layout"))")
        expectOneLineFailure(ambiguous, mentioning: ["v1", "v2"])
        let only = try ferry("inspect", "--json", "oci:\(Paths.fixture("skopeo-layout"))")
        #expect(only.status == 0)
        #expect(jsonLines(only.stdout).first?["digest"] as? String == InteropTests.umociV1)
    }
}
