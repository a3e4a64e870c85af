import Foundation
import OCI
import Testing

/// Layouts ferry writes are read by umoci, skopeo and oci-image-tool; layouts they wrote are
/// copied by ferry with identical digests.
@Suite struct InteropTests {
    static let umociV1 = "sha256:8d960ecee556cdc5d941f21a1c23e93586aa0f4bd8cd93e22b847ebc7463c939"
    static let umociV2 = "sha256:90bb8ace527f2c1fec985d78a98b6912dfaea6f0bfd6562041a92719565825ae"
    static let multiarch = "sha256:70997762274fad969c09f4cbbbe558cb0bbc664929477f4989fa05625c25c9a1"
    static let arm64Child = "sha256:43eece2f4b1c1c26e5e5e813ec56c08c5bbd20b41840e2d0b984f33419438c5f"

    @Test func layoutFerryWritesPassesOCIImageToolUmociAndSkopeo() throws {
        let scratch = try Scratch()
        let dst = scratch.path("out")
        #expect(try ferry("copy", "--progress", "none", "oci:\(Paths.fixture("umoci-layout")):v1", "oci:\(dst)").status == 0)
        #expect(try ferry("copy", "--progress", "none", "oci:\(Paths.fixture("umoci-layout")):v2", "oci:\(dst)").status == 0)
        #expect(try ferry("copy", "--progress", "none", "--all", "oci:\(Paths.fixture("multiarch-layout")):latest", "oci:\(dst):multi").status == 0)

        let validate = try run("oci-image-tool", ["validate", "--type", "image", dst])
        #expect(validate.status == 0, "\(validate.stdout)\(validate.stderr)")
        let tags = try run("umoci", ["ls", "--layout", dst])
        #expect(tags.status == 0)
        #expect(Set(tags.stdout.split(separator: "\n")) == ["v1", "v2", "multi"])
        #expect(try skopeoDigest("oci:\(dst):v1") == Self.umociV1)
        #expect(try skopeoDigest("oci:\(dst):v2") == Self.umociV2)
        #expect(try skopeoDigest("oci:\(dst):multi") == Self.multiarch)
        #expect(try ferry("verify", "oci:\(dst)").status == 0)
    }

    @Test func skopeoAndUmociLayoutsCopyWithIdenticalDigests() throws {
        let scratch = try Scratch()
        // A layout skopeo writes now, beside the committed ones.
        let fromSkopeo = scratch.path("skopeo")
        let made = try run("skopeo", ["copy", "-q", "--preserve-digests", "oci:\(Paths.fixture("umoci-layout")):v2", "oci:\(fromSkopeo):v2"])
        #expect(made.status == 0, "\(made.stderr)")
        for (source, digest) in [
            ("oci:\(Paths.fixture("umoci-layout")):v1", Self.umociV1),
            ("oci:\(Paths.fixture("skopeo-layout")):v1", Self.umociV1),
            ("oci:\(fromSkopeo):v2", Self.umociV2),
        ] {
            let dst = scratch.path("copy-\(UUID().uuidString.prefix(6))")
            let result = try ferry("copy", "--json", source, "oci:\(dst):t")
            #expect(result.status == 0, "\(result.stderr)")
            #expect(jsonLines(result.stdout).last?["digest"] as? String == digest)
            let inspected = try ferry("inspect", "--json", "oci:\(dst):t")
            let object = try #require(jsonLines(inspected.stdout).first)
            #expect(object["digest"] as? String == digest)
            #expect(object["kind"] as? String == "container-image")
            #expect(try skopeoDigest("oci:\(dst):t") == digest)
        }
    }

    @Test func platformSelectionCopiesOneChildLikeSkopeo() throws {
        let scratch = try Scratch()
        let dst = scratch.path("arm")
        let result = try ferry("copy", "--json", "--platform", "linux/arm64", "oci:\(Paths.fixture("multiarch-layout")):latest", "oci:\(dst)")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try skopeoDigest("oci:\(dst):latest") == Self.arm64Child)
        let missing = try ferry("copy", "--platform", "linux/s390x", "oci:\(Paths.fixture("multiarch-layout")):latest", "oci:\(scratch.path("none"))")
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("linux/amd64") && missing.stderr.contains("linux/arm64"))
        #expect(!FileManager.default.fileExists(atPath: scratch.path("none")))
    }

    @Test func fullReferenceNamesAreWrittenAndReadBothWays() throws {
        let scratch = try Scratch()
        let dst = scratch.path("crane-style")
        let result = try ferry("copy", "--progress", "none", "--ref-name", "full",
                               "oci:\(Paths.fixture("umoci-layout")):v1", "oci:\(dst):example.com/team/app:v1")
        #expect(result.status == 0, "\(result.stderr)")
        let index = try String(contentsOfFile: dst + "/index.json", encoding: .utf8)
        #expect(index.contains("\"org.opencontainers.image.ref.name\":\"example.com/team/app:v1\""))
        // skopeo matches ref.name literally; ferry also resolves the bare tag.
        #expect(try skopeoDigest("oci:\(dst):example.com/team/app:v1") == Self.umociV1)
        #expect(try ferry("inspect", "oci:\(dst):v1").status == 0)
        #expect(try ferry("ls", "oci:\(dst)", "example.com/team/app").stdout == "v1\n")
        // --ref-name=full qualifies a bare tag with the destination's repository.
        let second = try ferry("copy", "--progress", "none", "--ref-name", "full",
                               "oci:\(Paths.fixture("umoci-layout")):v2", "oci:\(dst):example.com/team/app:v2")
        #expect(second.status == 0)
        // Without a name to qualify with, --ref-name=full is refused before anything is written.
        let refused = try ferry("copy", "--ref-name", "full", "oci:\(Paths.fixture("umoci-layout")):v1", "oci:\(scratch.path("x")):v1")
        #expect(refused.status == 1)
        #expect(!FileManager.default.fileExists(atPath: scratch.path("x")))
    }

    @Test func aFlippedByteMakesVerifyFail() throws {
        let scratch = try Scratch()
        let dst = scratch.path("flip")
        #expect(try ferry("copy", "--progress", "none", "oci:\(Paths.fixture("umoci-layout")):v2", "oci:\(dst)").status == 0)
        #expect(try ferry("verify", "oci:\(dst)").status == 0)
        let layer = dst + "/blobs/sha256/01a765c31005c24e8d5f02e40f144c9455e12c8b0ec6da1b1424f1424a45b4a8"
        var bytes = try #require(FileManager.default.contents(atPath: layer))
        bytes[10] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: layer))
        let result = try ferry("verify", "oci:\(dst)")
        #expect(result.status == 1)
        #expect(result.stderr.contains("01a765c31005") && result.stderr.contains("content hashes to"))
        #expect(try ferry("verify", "oci:\(dst):v2").status == 1)
    }
}
