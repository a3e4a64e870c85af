import Foundation
import Testing

/// epoch: from the command line: copies in every direction, two writers at once.
@Suite struct EpochCLITests {
    @Test func copiesBetweenLayoutsArchivesAndBuckets() throws {
        let scratch = try Scratch()
        let bucket = scratch.path("bucket")
        #expect(try ferry("copy", "--progress", "none", "oci:\(Paths.fixture("umoci-layout")):v2", "epoch:\(bucket)#team/app:v2").status == 0)
        #expect(try ferry("copy", "--progress", "none", "epoch:\(bucket)#team/app:v2", "oci-archive:\(scratch.path("a.tar.zst")):v2").status == 0)
        #expect(try ferry("copy", "--progress", "none", "oci-archive:\(scratch.path("a.tar.zst")):v2", "epoch:\(bucket)#team/copy:v2").status == 0)
        let out = try ferry("copy", "--json", "epoch:\(bucket)#team/copy:v2", "oci:\(scratch.path("back")):v2")
        #expect(jsonLines(out.stdout).last?["digest"] as? String == InteropTests.umociV2)
        #expect(try ferry("ls", "epoch:\(bucket)").stdout == "team/app\nteam/copy\n")
        #expect(try ferry("verify", "epoch:\(bucket)").status == 0)
        // The configured bucket: EPOCH_DIR.
        let configured = try run("/usr/bin/env", ["EPOCH_DIR=\(bucket)", Paths.ferry, "inspect", "--json", "epoch:team/app:v2"])
        #expect(jsonLines(configured.stdout).first?["digest"] as? String == InteropTests.umociV2)
    }

    @Test func twoWritersPushingDifferentTagsBothLandInTheCatalog() throws {
        let scratch = try Scratch()
        let bucket = scratch.path("bucket")
        let processes = try (0..<6).map { index in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Paths.ferry)
            let source = index % 2 == 0 ? "oci:\(Paths.fixture("umoci-layout")):v1" : "oci:\(Paths.fixture("umoci-layout")):v2"
            process.arguments = ["copy", "--progress", "none", source, "epoch:\(bucket)#app\(index % 3):t\(index)"]
            try process.run()
            return process
        }
        for process in processes {
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
        }
        let catalog = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: bucket + "/epoch/catalog.json"))) as? [String: Any]
        let repositories = try #require(catalog?["repositories"] as? [String: [String: Any]])
        let tags = repositories.flatMap { ($0.value["tags"] as? [String: String] ?? [:]).keys }
        #expect(Set(tags) == ["t0", "t1", "t2", "t3", "t4", "t5"])
    }

    @Test func syncSeedsABucketFromALayoutAndMirrorsItBack() throws {
        let scratch = try Scratch()
        let layout = scratch.path("layout")
        #expect(try ferry("copy", "--progress", "none", "oci:\(Paths.fixture("umoci-layout")):v1", "oci:\(layout):example.com/app:v1").status == 0)
        #expect(try ferry("copy", "--progress", "none", "--all", "oci:\(Paths.fixture("multiarch-layout")):latest", "oci:\(layout):example.com/multi:latest").status == 0)
        let bucket = scratch.path("bucket")
        #expect(try ferry("sync", "--progress", "none", "oci:\(layout)", "epoch:\(bucket)").status == 0)
        #expect(try ferry("ls", "epoch:\(bucket)").stdout == "example.com/app\nexample.com/multi\n")
        let again = try ferry("sync", "--json", "oci:\(layout)", "epoch:\(bucket)")
        #expect(jsonLines(again.stdout).last?["blobsCopied"] as? Int == 0)
        let mirror = scratch.path("mirror")
        #expect(try ferry("sync", "--progress", "none", "epoch:\(bucket)", "oci:\(mirror)").status == 0)
        #expect(try skopeoDigest("oci:\(mirror):example.com/multi:latest") == InteropTests.multiarch)
        #expect(try skopeoDigest("oci:\(mirror):example.com/app:v1") == InteropTests.umociV1)
        // Bare layout tags have no repository name for a bucket: refused before anything is written.
        let refused = try ferry("sync", "oci:\(Paths.fixture("umoci-layout"))", "epoch:\(scratch.path("other"))")
        #expect(refused.status == 1)
        #expect(!FileManager.default.fileExists(atPath: scratch.path("other")))
    }
}

/// ferry gc from the command line.
@Suite struct GCCLITests {
    @Test func dryRunThenCollectWithAGraceOfZero() throws {
        let scratch = try Scratch()
        let bucket = scratch.path("bucket")
        #expect(try ferry("copy", "--progress", "none", "oci:\(Paths.fixture("umoci-layout")):v1", "epoch:\(bucket)#app:v1").status == 0)
        #expect(try ferry("copy", "--progress", "none", "oci:\(Paths.fixture("umoci-layout")):v2", "epoch:\(bucket)#app@\(InteropTests.umociV2)").status != 0)
        #expect(try ferry("copy", "--progress", "none", "oci:\(Paths.fixture("umoci-layout")):v2", "epoch:\(bucket)#app:v2").status == 0)
        // Remove the tag with epoch's own semantics (delete the tag object and its catalog entry) by hand.
        try FileManager.default.removeItem(atPath: bucket + "/epoch/manifests/app/v2.json")
        let catalogPath = bucket + "/epoch/catalog.json"
        var catalog = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: catalogPath))) as! [String: Any]
        var repositories = catalog["repositories"] as! [String: [String: Any]]
        var tags = repositories["app"]!["tags"] as! [String: String]
        tags["v2"] = nil
        repositories["app"]!["tags"] = tags
        catalog["repositories"] = repositories
        try JSONSerialization.data(withJSONObject: catalog).write(to: URL(fileURLWithPath: catalogPath))
        let young = jsonLines(try ferry("gc", "--json", "epoch:\(bucket)").stdout)
        #expect(young.last?["event"] as? String == "summary" && young.last?["items"] as? Int == 0)
        #expect(young.filter { $0["event"] as? String == "spared" }.count == 3)
        let dry = jsonLines(try ferry("gc", "--dry-run", "--grace", "0", "--json", "epoch:\(bucket)").stdout)
        #expect(dry.filter { $0["event"] as? String == "garbage" }.count == 3)
        let object = try #require(dry.last)
        #expect(object["items"] as? Int == 3)
        #expect(object["bytes"] as? Int == 499 + 734 + 136)
        #expect(try ferry("gc", "--grace", "0", "epoch:\(bucket)").status == 0)
        #expect(try ferry("verify", "epoch:\(bucket)").status == 0)
        #expect(try ferry("gc", "--grace", "soon", "epoch:\(bucket)").status == 2)
    }
}

/// epoch:s3:// against the SeaweedFS server that make test starts.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["FERRY_TEST_S3_ENDPOINT"] != nil, "needs the SeaweedFS server that make test starts"))
struct EpochS3CLITests {
    private var environment: [String] {
        let env = ProcessInfo.processInfo.environment
        return ["EPOCH_S3_ENDPOINT=\(env["FERRY_TEST_S3_ENDPOINT"]!)", "EPOCH_S3_ACCESS_KEY=\(env["FERRY_TEST_S3_ACCESS_KEY"]!)",
                "EPOCH_S3_SECRET_KEY=\(env["FERRY_TEST_S3_SECRET_KEY"]!)", "EPOCH_S3_ENV_FILE=/nonexistent"]
    }

    private func ferryWithS3(_ arguments: String...) throws -> Run {
        try run("/usr/bin/env", environment + [Paths.ferry] + arguments)
    }

    private func makeBucket() throws -> String {
        let bucket = "ferry-cli-\(UUID().uuidString.prefix(8).lowercased())"
        let env = ProcessInfo.processInfo.environment
        let made = try run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "--aws-sigv4", "aws:amz:us-east-1:s3",
                                    "--user", "\(env["FERRY_TEST_S3_ACCESS_KEY"]!):\(env["FERRY_TEST_S3_SECRET_KEY"]!)",
                                    "\(env["FERRY_TEST_S3_ENDPOINT"]!)/\(bucket)"])
        #expect(made.stdout == "200")
        return bucket
    }

    @Test func layoutToS3AndBackWithTwoWritersAtOnce() throws {
        let scratch = try Scratch()
        let bucket = try makeBucket()
        let processes = try (0..<4).map { index in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            let source = index % 2 == 0 ? "oci:\(Paths.fixture("umoci-layout")):v1" : "oci:\(Paths.fixture("umoci-layout")):v2"
            process.arguments = environment + [Paths.ferry, "copy", "--progress", "none", source, "epoch:s3://\(bucket)#app:t\(index)"]
            try process.run()
            return process
        }
        for process in processes {
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
        }
        #expect(Set(try ferryWithS3("ls", "epoch:s3://\(bucket)", "app").stdout.split(separator: "\n")) == ["t0", "t1", "t2", "t3"])
        let catalog = try ferryWithS3("ls", "epoch:s3://\(bucket)")
        #expect(catalog.stdout == "app\n")
        let back = try ferryWithS3("copy", "--json", "epoch:s3://\(bucket)#app:t1", "oci:\(scratch.path("back")):t1")
        #expect(jsonLines(back.stdout).last?["digest"] as? String == InteropTests.umociV2)
        #expect(try ferryWithS3("verify", "epoch:s3://\(bucket)").status == 0)
        // Secrets never appear in what ferry prints.
        let failed = try ferryWithS3("inspect", "epoch:s3://\(bucket)#app:missing")
        #expect(failed.status == 1 && !failed.stderr.contains("ferrytestsecret"))
    }
}
