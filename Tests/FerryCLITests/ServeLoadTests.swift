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

    /// The environment `ferry` needs for the test S3 server.
    static var s3: [String] {
        let env = ProcessInfo.processInfo.environment
        return ["EPOCH_S3_ENDPOINT=\(env["FERRY_TEST_S3_ENDPOINT"]!)", "EPOCH_S3_ACCESS_KEY=\(env["FERRY_TEST_S3_ACCESS_KEY"]!)",
                "EPOCH_S3_SECRET_KEY=\(env["FERRY_TEST_S3_SECRET_KEY"]!)", "EPOCH_S3_ENV_FILE=/nonexistent"]
    }

    /// A signed request straight to the test S3 server (curl's SigV4): `PATH` is `/BUCKET…`.
    static func s3Request(_ method: String, _ path: String) throws -> Run {
        let env = ProcessInfo.processInfo.environment
        return try run("curl", ["-s", "-X", method, "--aws-sigv4", "aws:amz:us-east-1:s3",
                                "--user", "\(env["FERRY_TEST_S3_ACCESS_KEY"]!):\(env["FERRY_TEST_S3_SECRET_KEY"]!)", "\(env["FERRY_TEST_S3_ENDPOINT"]!)\(path)"])
    }

    /// A new bucket on the test S3 server.
    static func makeBucket() throws -> String {
        let bucket = "ferry-serve-\(UUID().uuidString.prefix(8).lowercased())"
        #expect(try s3Request("PUT", "/\(bucket)").status == 0)
        return bucket
    }

    /// The multipart uploads in progress in `bucket`, and the objects under its `_uploads/`.
    static func spooled(in bucket: String) throws -> (uploads: Int, objects: Int) {
        let uploads = try s3Request("GET", "/\(bucket)?uploads=").stdout
        let objects = try s3Request("GET", "/\(bucket)?list-type=2&prefix=epoch%2F_uploads%2F").stdout
        try #require(uploads.contains("<ListMultipartUploadsResult") && objects.contains("<ListBucketResult"), "\(uploads) \(objects)")
        return (uploads.components(separatedBy: "<Upload>").count - 1, objects.components(separatedBy: "<Contents>").count - 1)
    }

    /// Upload sessions into an S3 bucket go to the bucket as multipart uploads while they
    /// arrive: only the bytes short of a part wait in the server's spool directory between
    /// requests; a finished upload is copied inside the bucket, verified first; a wrong digest,
    /// a cancel, and a killed server's leftovers (swept at the next start) leave nothing.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["FERRY_TEST_S3_ENDPOINT"] != nil, "needs the SeaweedFS server that make test starts"))
    func uploadSessionsIntoAnS3BucketAreMultipartUploads() throws {
        let bucket = try Self.makeBucket()
        let scratch = try Scratch()
        let spool = scratch.path("spool")
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        let server = try Served(["epoch:s3://\(bucket)", "--upload-expiry", "3s"], environment: Self.s3 + ["TMPDIR=\(spool)"])
        var random = SystemRandomNumberGenerator()
        let blob = Data((0..<(19 << 20)).map { _ in UInt8.random(in: 0...255, using: &random) })
        let digest = sha256(blob)
        func spoolFiles() throws -> [Int] {
            try FileManager.default.contentsOfDirectory(atPath: spool).filter { $0.hasPrefix(".ferry-") }.map {
                (try FileManager.default.attributesOfItem(atPath: spool + "/" + $0)[.size] as? Int) ?? -1
            }
        }
        func patch(_ location: String, _ range: Range<Int>) throws -> HTTPExchange {
            try http("PATCH", server.url + location, headers: ["Content-Range": "\(range.lowerBound)-\(range.upperBound - 1)",
                                                                "Content-Type": "application/octet-stream"], body: blob[range])
        }
        func start() throws -> String {
            let started = try http("POST", "\(server.url)/v2/app/blobs/uploads/")
            #expect(started.status == 202)
            return started.headers["location"] ?? ""
        }

        // 12 MiB: one 8 MiB part in the bucket, 4 MiB waiting here; 6 MiB more: a second part, 2 MiB here.
        let location = try start()
        #expect(try patch(location, 0..<(12 << 20)).status == 202)
        #expect(try Self.spooled(in: bucket).uploads == 1)
        #expect(try spoolFiles() == [4 << 20])
        #expect(try patch(location, (12 << 20)..<(18 << 20)).headers["range"] == "0-\((18 << 20) - 1)")
        #expect(try spoolFiles() == [2 << 20])
        let done = try http("PUT", "\(server.url)\(location)?digest=\(digest)", headers: ["Content-Type": "application/octet-stream"],
                            body: blob[(18 << 20)...])
        #expect(done.status == 201, "\(done.text)")
        #expect(try http("GET", "\(server.url)/v2/app/blobs/\(digest)").body == blob)
        #expect(try Self.spooled(in: bucket) == (0, 0))
        #expect(try spoolFiles().isEmpty)

        // A wrong digest stores nothing and leaves nothing.
        let wrong = try start()
        #expect(try patch(wrong, 0..<(10 << 20)).status == 202)
        let refused = try http("PUT", "\(server.url)\(wrong)?digest=sha256:\(String(repeating: "ab", count: 32))")
        #expect(refused.status == 400 && refused.errorCode == "DIGEST_INVALID")
        #expect(try http("HEAD", "\(server.url)/v2/app/blobs/sha256:\(String(repeating: "ab", count: 32))").status == 404)
        #expect(try Self.spooled(in: bucket) == (0, 0))
        // A cancelled upload is aborted in the bucket.
        let cancelled = try start()
        #expect(try patch(cancelled, 0..<(9 << 20)).status == 202)
        #expect(try Self.spooled(in: bucket).uploads == 1)
        #expect(try http("DELETE", "\(server.url)\(cancelled)").status == 204)
        #expect(try Self.spooled(in: bucket) == (0, 0))

        // A killed server's multipart upload is swept by the next one, once older than the expiry.
        let abandoned = try start()
        #expect(try patch(abandoned, 0..<(9 << 20)).status == 202)
        server.stop(SIGKILL)
        #expect(try Self.spooled(in: bucket).uploads == 1)
        sleep(4)
        let next = try Served(["epoch:s3://\(bucket)", "--upload-expiry", "3s"], environment: Self.s3 + ["TMPDIR=\(spool)"])
        #expect(try Self.spooled(in: bucket) == (0, 0))
        #expect(try spoolFiles().isEmpty)
        #expect(try ferryIn(Self.s3, ["verify", "epoch:s3://\(bucket)"]).status == 0)
        next.stop()
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["FERRY_TEST_S3_ENDPOINT"] != nil, "needs the SeaweedFS server that make test starts"))
    func anS3BucketServedTakesPushesAndServesPulls() throws {
        let s3 = Self.s3
        let bucket = try Self.makeBucket()
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
