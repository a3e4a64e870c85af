import Foundation
import OCI
import Testing

/// `ferry serve` under concurrent pushes, and in front of an S3 bucket (issue 15, points 3 and 7).
@Suite struct ServeLoadTests {
    @Test func thirtyTwoConcurrentPushesOfOverlappingImagesAllLand() throws {
        let scratch = try Scratch()
        // Two images (seeds 0 and 1), 32 pushes at once into eight repositories, four pushes per
        // repository and tag: the same blobs, manifests and tags race.
        var sources: [String] = []
        for n in 0..<4 {
            let layout = scratch.path("src\(n)")
            #expect(try run("python3", [Paths.genLayout, layout, "--size-mib", "1", "--layers", "2", "--seed", "\(n / 2)", "--tag", "v1"]).status == 0)
            sources.append(layout)
        }
        let target = scratch.path("target")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        let server = try Served(["oci:\(target)"])
        let pushes = try (0..<32).map { n in
            try Child(Paths.ferry, ["copy", "--progress", "none", "--tls-verify=false", "oci:\(sources[n % 4]):v1", "docker://\(server.address)/repo\(n % 8):v\(n % 4)"])
        }
        for (n, push) in pushes.enumerated() {
            let result = push.wait()
            #expect(result.status == 0, "push \(n): \(result.stderr)")
        }
        #expect(try ferry("verify", "oci:\(target)").status == 0)
        for n in 0..<8 {
            let tags = try http("GET", "\(server.url)/v2/repo\(n)/tags/list").json?["tags"] as? [String] ?? []
            #expect(tags == ["v\(n % 4)"])
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: target).allSatisfy { !$0.hasPrefix(".ferry-") })
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["FERRY_TEST_S3_ENDPOINT"] != nil, "needs the SeaweedFS server that make test starts"))
    func anS3BucketServedTakesPushesAndServesPulls() throws {
        let env = ProcessInfo.processInfo.environment
        let s3 = ["EPOCH_S3_ENDPOINT=\(env["FERRY_TEST_S3_ENDPOINT"]!)", "EPOCH_S3_ACCESS_KEY=\(env["FERRY_TEST_S3_ACCESS_KEY"]!)",
                  "EPOCH_S3_SECRET_KEY=\(env["FERRY_TEST_S3_SECRET_KEY"]!)", "EPOCH_S3_ENV_FILE=/nonexistent"]
        let bucket = "ferry-serve-\(UUID().uuidString.prefix(8).lowercased())"
        let made = try run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "--aws-sigv4", "aws:amz:us-east-1:s3",
                                    "--user", "\(env["FERRY_TEST_S3_ACCESS_KEY"]!):\(env["FERRY_TEST_S3_SECRET_KEY"]!)", "\(env["FERRY_TEST_S3_ENDPOINT"]!)/\(bucket)"])
        #expect(made.stdout == "200")
        let scratch = try Scratch()
        let layout = scratch.path("big")
        #expect(try run("python3", [Paths.genLayout, layout, "--size-mib", "24", "--layers", "2", "--tag", "v1"]).status == 0)
        let server = try Served(["epoch:s3://\(bucket)"], environment: s3)
        let pushed = try ferry("copy", "--progress", "none", "--tls-verify=false", "oci:\(layout):v1", "docker://\(server.address)/big:v1")
        #expect(pushed.status == 0, "\(pushed.stderr)")
        #expect(try ferryIn(s3, ["verify", "epoch:s3://\(bucket)"]).status == 0)
        let blob = try largestBlob(in: layout)
        let range = try http("GET", "\(server.url)/v2/big/blobs/sha256:\(blob.hex)", headers: ["Range": "bytes=1000-1999"])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: blob.path))
        #expect(range.status == 206 && range.body == bytes[1000..<2000])
        let pulled = try ferry("copy", "--progress", "none", "--tls-verify=false", "docker://\(server.address)/big:v1", "oci:\(scratch.path("back")):v1")
        #expect(pulled.status == 0, "\(pulled.stderr)")
        let digest = { (reference: String) in jsonLines(try ferry("inspect", "--json", reference).stdout).last?["digest"] as? String }
        #expect(try digest("oci:\(scratch.path("back")):v1") == digest("oci:\(layout):v1"))
    }
}
