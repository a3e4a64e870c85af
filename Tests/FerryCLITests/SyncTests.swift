import Foundation
import Testing

/// `ferry sync` and `ferry copy --all-tags`: many images in one archive, in one pass.
@Suite struct SyncTests {
    /// A layout with three tags in both name forms, one of them a multi-arch index.
    private func mixedLayout(_ scratch: Scratch) throws -> String {
        let layout = scratch.path("mixed")
        #expect(try ferry("copy", "--progress", "none", "--all", "oci:\(Paths.fixture("multiarch-layout")):latest", "oci:\(layout):multi").status == 0)
        #expect(try ferry("copy", "--progress", "none", "oci:\(Paths.fixture("umoci-layout")):v1", "oci:\(layout):example.com/app:v1").status == 0)
        #expect(try ferry("copy", "--progress", "none", "oci:\(Paths.fixture("umoci-layout")):v2", "oci:\(layout):v2").status == 0)
        return layout
    }

    private func tags(_ location: String) throws -> Set<String> {
        Set(try ferry("ls", location).stdout.split(separator: "\n").map(String.init))
    }

    @Test(arguments: ["tar", "tar.gz", "tar.zst"])
    func syncThroughAnArchiveKeepsEveryTagAndDigest(_ ending: String) throws {
        let scratch = try Scratch()
        let layout = try mixedLayout(scratch)
        let archive = scratch.path("all.\(ending)")
        let out = try ferry("sync", "--json", "oci:\(layout)", "oci-archive:\(archive)")
        #expect(out.status == 0, "\(out.stderr)")
        let summary = try #require(jsonLines(out.stdout).last)
        #expect((summary["tags"] as? [[String: Any]])?.count == 3)
        #expect(try tags("oci-archive:\(archive)") == ["multi", "v2", "example.com/app"])
        #expect(try ferry("ls", "oci-archive:\(archive)", "example.com/app").stdout == "v1\n")

        let back = scratch.path("back")
        #expect(try ferry("sync", "--progress", "none", "oci-archive:\(archive)", "oci:\(back)").status == 0)
        #expect(try tags("oci:\(back)") == ["multi", "v2", "example.com/app"])
        #expect(try skopeoDigest("oci:\(back):multi") == InteropTests.multiarch)
        #expect(try skopeoDigest("oci:\(back):v2") == InteropTests.umociV2)
        #expect(try skopeoDigest("oci:\(back):example.com/app:v1") == InteropTests.umociV1)
        #expect(try ferry("verify", "oci:\(back)").status == 0)

        // copy --all-tags is the same job.
        let again = scratch.path("again")
        #expect(try ferry("copy", "--all-tags", "--all", "--progress", "none", "oci-archive:\(archive)", "oci:\(again)").status == 0)
        #expect(try tags("oci:\(again)") == ["multi", "v2", "example.com/app"])
    }

    @Test func aSingleImageReadOfAMultiImageArchiveNamesTheChoices() throws {
        let scratch = try Scratch()
        let archive = scratch.path("all.tar")
        #expect(try ferry("sync", "--progress", "none", "oci:\(try mixedLayout(scratch))", "oci-archive:\(archive)").status == 0)
        let result = try ferry("copy", "oci-archive:\(archive)", "oci:\(scratch.path("one"))")
        #expect(result.status == 1)
        #expect(result.stderr.contains("multi") && result.stderr.contains("v2") && result.stderr.contains("example.com/app:v1"))
        #expect(!FileManager.default.fileExists(atPath: scratch.path("one")))
        #expect(try ferry("copy", "--progress", "none", "oci-archive:\(archive):v2", "oci:\(scratch.path("one"))").status == 0)
    }

    @Test func allTagsRefusesATaggedLocation() throws {
        let scratch = try Scratch()
        let result = try ferry("copy", "--all-tags", "oci:\(Paths.fixture("umoci-layout")):v1", "oci:\(scratch.path("x"))")
        #expect(result.status == 2)
        #expect(result.stderr.contains("--all-tags"))
        #expect(!FileManager.default.fileExists(atPath: scratch.path("x")))
    }

    @Test func syncIntoTheSameArchiveAgainMovesNothingNew() throws {
        let scratch = try Scratch()
        let layout = try mixedLayout(scratch)
        let dst = scratch.path("mirror")
        #expect(try ferry("sync", "--progress", "none", "oci:\(layout)", "oci:\(dst)").status == 0)
        let second = try ferry("sync", "--json", "oci:\(layout)", "oci:\(dst)")
        let summary = try #require(jsonLines(second.stdout).last)
        #expect(summary["blobsCopied"] as? Int == 0)
    }
}
