import Foundation
import OCI
import Testing

/// What `ferry copy` shows as it goes, and indexes inside indexes.
@Suite struct ProgressAndNestingTests {
    @Test func barsOnATerminalLinesOtherwise() throws {
        let scratch = try Scratch()
        // `script` gives ferry a terminal.
        let command = "\(Paths.ferry) copy oci:\(Paths.fixture("umoci-layout")):v2 oci:\(scratch.path("tty"))"
        let terminal = try run("script", ["-qec", command, "/dev/null"])
        #expect(terminal.status == 0)
        #expect(terminal.stdout.contains("\r\u{1B}[K["))
        #expect(terminal.stdout.contains("3/3 blobs"))
        let plain = try ferry("copy", "oci:\(Paths.fixture("umoci-layout")):v2", "oci:\(scratch.path("plain"))")
        #expect(plain.status == 0)
        #expect(!plain.stderr.contains("\u{1B}["))
        #expect(plain.stderr.contains("Copied blob 01a765c31005"))
        let quiet = try ferry("copy", "--progress", "none", "oci:\(Paths.fixture("umoci-layout")):v2", "oci:\(scratch.path("quiet"))")
        #expect(quiet.stderr.isEmpty && quiet.stdout.isEmpty)
    }

    @Test func jsonEventsComeInOrderWithASummaryLast() throws {
        let scratch = try Scratch()
        let result = try ferry("copy", "--json", "--all", "oci:\(Paths.fixture("multiarch-layout")):latest", "oci:\(scratch.path("j"))")
        #expect(result.status == 0)
        let events = jsonLines(result.stdout)
        #expect(events.count == result.stdout.split(separator: "\n").count)  // every line is one object
        #expect(events.first?["event"] as? String == "plan")
        #expect(events.first?["blobs"] as? Int == 5)
        let summary = try #require(events.last)
        #expect(summary["event"] as? String == "summary")
        #expect(summary["digest"] as? String == InteropTests.multiarch)
        #expect(summary["blobsCopied"] as? Int == 5)
        // Blobs before manifests, the tagged index last.
        let kinds = events.compactMap { $0["event"] as? String }
        let lastBlob = try #require(kinds.lastIndex(of: "blob"))
        let firstManifest = try #require(kinds.firstIndex(of: "manifest"))
        #expect(lastBlob < firstManifest)
        let manifests = events.filter { $0["event"] as? String == "manifest" }
        #expect(manifests.count == 3)
        #expect(manifests.last?["tag"] as? String == "latest")
        #expect(manifests.last?["digest"] as? String == InteropTests.multiarch)
    }

    @Test func anIndexInsideAnIndexIsCopiedWhole() throws {
        let scratch = try Scratch()
        let source = scratch.path("nested")
        try FileManager.default.copyItem(atPath: Paths.fixture("multiarch-layout"), toPath: source)
        let outer = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"\#(InteropTests.multiarch)","size":733}]}"#.utf8)
        let outerDigest = Digest.compute(outer)
        try Data(outer).write(to: URL(fileURLWithPath: source + "/blobs/sha256/" + outerDigest.encoded))
        let index = #"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"\#(outerDigest)","size":\#(outer.count),"annotations":{"org.opencontainers.image.ref.name":"nested"}}]}"#
        try Data(index.utf8).write(to: URL(fileURLWithPath: source + "/index.json"))

        let dst = scratch.path("dst")
        let result = try ferry("copy", "--json", "oci:\(source)", "oci:\(dst)")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(jsonLines(result.stdout).last?["digest"] as? String == outerDigest.description)
        #expect(try ferry("verify", "oci:\(dst)").status == 0)
        #expect(try skopeoDigest("oci:\(dst):nested") == outerDigest.description)
        // Both platforms of the inner index came along.
        #expect(FileManager.default.fileExists(atPath: dst + "/blobs/sha256/" + InteropTests.arm64Child.dropFirst(7)))
    }
}
