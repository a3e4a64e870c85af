import Foundation
import Testing

/// S3 servers that fail and TLS that must be checked: each test that stops a server starts a
/// SeaweedFS of its own (scripts/seaweedfs.sh), so the shared one keeps serving the others.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["FERRY_TEST_S3_ENDPOINT"] != nil, "needs the SeaweedFS that make test starts"))
struct EpochS3FaultTests {
    private let script = Paths.packageRoot.appendingPathComponent("scripts/seaweedfs.sh").path

    /// The `FERRY_TEST_S3_*` values a `seaweedfs.sh start DIR` wrote.
    private func serverEnvironment(_ directory: String) throws -> [String: String] {
        let text = try String(contentsOfFile: "\(directory)/env", encoding: .utf8)
        return Dictionary(uniqueKeysWithValues: text.split(separator: "\n").compactMap { line in
            line.firstIndex(of: "=").map { (String(line[..<$0]), String(line[line.index(after: $0)...])) }
        })
    }

    private func s3Environment(_ server: [String: String], endpoint key: String = "FERRY_TEST_S3_ENDPOINT") -> [String] {
        ["EPOCH_S3_ENDPOINT=\(server[key]!)", "EPOCH_S3_ACCESS_KEY=\(server["FERRY_TEST_S3_ACCESS_KEY"]!)",
         "EPOCH_S3_SECRET_KEY=\(server["FERRY_TEST_S3_SECRET_KEY"]!)", "EPOCH_S3_ENV_FILE=/nonexistent"]
    }

    /// A signed request through curl (an independent client), returning the body.
    private func curlS3(_ server: [String: String], _ method: String, _ path: String, insecure: Bool = false) throws -> Run {
        try run("curl", ["-s", "-X", method, "--aws-sigv4", "aws:amz:us-east-1:s3",
                         "--user", "\(server["FERRY_TEST_S3_ACCESS_KEY"]!):\(server["FERRY_TEST_S3_SECRET_KEY"]!)",
                         "\(server["FERRY_TEST_S3_ENDPOINT"]!)\(path)"])
    }

    private func keys(_ server: [String: String], bucket: String) throws -> Set<String> {
        let listing = try curlS3(server, "GET", "/\(bucket)?list-type=2&max-keys=1000").stdout
        return Set(listing.components(separatedBy: "<Key>").dropFirst().compactMap { $0.components(separatedBy: "</Key>").first })
    }

    /// Waits (up to 12 s) until a multipart upload is under way in `bucket` while `copy` runs.
    private func waitForMultipartUpload(_ server: [String: String], bucket: String, while copy: Child) throws -> Bool {
        for _ in 0..<600 where copy.isRunning {
            if try curlS3(server, "GET", "/\(bucket)?uploads=").stdout.contains("<UploadId>") { return true }
            usleep(20_000)
        }
        return false
    }

    @Test func serverKilledInTheMiddleOfAMultipartUploadNeverLeavesABrokenTag() throws {
        let scratch = try Scratch()
        let state = scratch.path("seaweedfs")
        #expect(try run("bash", [script, "start", state]).status == 0)
        defer { _ = try? run("bash", [script, "stop", state]) }
        let server = try serverEnvironment(state)
        let bucket = "fault"
        _ = try curlS3(server, "PUT", "/\(bucket)")
        let source = scratch.path("big")
        #expect(try run("python3", [Paths.genLayout, source, "--size-mib", "320", "--layers", "2", "--tag", "big"]).status == 0)

        let copy = try Child("/usr/bin/env", s3Environment(server) + [Paths.ferry, "copy", "--progress", "none", "oci:\(source):big", "epoch:s3://\(bucket)#big:v1"])

        // Kill the server (SIGKILL: a crash) as soon as a multipart upload is under way.
        #expect(try waitForMultipartUpload(server, bucket: bucket, while: copy))
        let pid = try String(contentsOfFile: "\(state)/weed.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try run("kill", ["-9", pid])
        sleep(1)
        #expect(try run("bash", [script, "start", state]).status == 0)
        let outcome = copy.wait()
        let stderr = outcome.stderr

        // Either the retries carried it through, or it failed with one clear line.
        if outcome.status != 0 {
            #expect(outcome.status == 1)
            let lines = stderr.split(separator: "\n").filter { $0.hasPrefix("ferry: ") }
            #expect(lines.count == 1, "\(stderr)")
            #expect(lines.first?.contains("epoch:s3://\(bucket)") == true, "\(stderr)")
            #expect(!stderr.contains("ferrytestsecret"))
        }
        // Never a tag whose manifest names a missing blob: the tag is either absent, or every
        // blob it reaches is in the bucket (checked on the raw listing).
        let present = try keys(server, bucket: bucket)
        if present.contains("epoch/manifests/big/v1.json") {
            let manifest = try curlS3(server, "GET", "/\(bucket)/epoch/manifests/big/v1.json").stdout
            let object = try JSONSerialization.jsonObject(with: Data(manifest.utf8)) as! [String: Any]
            let descriptors = [object["config"] as! [String: Any]] + (object["layers"] as! [[String: Any]])
            for descriptor in descriptors {
                let hex = (descriptor["digest"] as! String).dropFirst("sha256:".count)
                #expect(present.contains("epoch/blobs/sha256/\(hex)"))
            }
        } else {
            #expect(outcome.status != 0)
        }
        // A rerun finishes the job, and the bucket verifies.
        let rerun = try run("/usr/bin/env", s3Environment(server) + [Paths.ferry, "copy", "--progress", "none", "oci:\(source):big", "epoch:s3://\(bucket)#big:v1"])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(try run("/usr/bin/env", s3Environment(server) + [Paths.ferry, "verify", "epoch:s3://\(bucket)"]).status == 0)
    }

    /// Ctrl-C in the middle of a multipart upload: the upload is aborted on the server, no tag is
    /// written, and ferry says `interrupted` with status 130 (issue 14, point 1).
    @Test func anInterruptAbortsTheMultipartUpload() throws {
        let scratch = try Scratch()
        let server = ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("FERRY_TEST_S3_") }
        let bucket = "interrupt-\(UUID().uuidString.prefix(8).lowercased())"
        _ = try curlS3(server, "PUT", "/\(bucket)")
        let source = scratch.path("big")
        #expect(try run("python3", [Paths.genLayout, source, "--size-mib", "160", "--layers", "1", "--tag", "big"]).status == 0)
        let copy = try Child("/usr/bin/env", s3Environment(server) + [Paths.ferry, "copy", "--progress", "none", "oci:\(source):big", "epoch:s3://\(bucket)#big:v1"])
        #expect(try waitForMultipartUpload(server, bucket: bucket, while: copy))
        kill(copy.pid, SIGINT)
        let outcome = copy.wait()
        #expect(outcome.status == 130 && outcome.stderr == "ferry: interrupted\n", "\(outcome.status): \(outcome.stderr)")
        #expect(!(try curlS3(server, "GET", "/\(bucket)?uploads=").stdout.contains("<UploadId>")), "the multipart upload is aborted")
        #expect(!(try keys(server, bucket: bucket)).contains("epoch/manifests/big/v1.json"))
    }

    @Test func httpsIsVerifiedAgainstTheSystemRootsOrEpochCACert() throws {
        let shared = ProcessInfo.processInfo.environment
        guard shared["FERRY_TEST_S3_HTTPS_ENDPOINT"] != nil else { return }
        let server = shared.filter { $0.key.hasPrefix("FERRY_TEST_") }
        let bucket = "tls-\(UUID().uuidString.prefix(8).lowercased())"
        _ = try curlS3(server, "PUT", "/\(bucket)")
        let https = s3Environment(server, endpoint: "FERRY_TEST_S3_HTTPS_ENDPOINT")
        let fixture = "oci:\(Paths.fixture("umoci-layout")):v1"

        // A certificate from an unknown CA is refused, with a line that says what to do.
        let refused = try run("/usr/bin/env", https + [Paths.ferry, "copy", fixture, "epoch:s3://\(bucket)#app:v1"])
        #expect(refused.status == 1)
        #expect(refused.errorLines.last?.contains("TLS certificate is not trusted") == true, "\(refused.stderr)")
        #expect(!refused.stderr.contains(".build/"))
        #expect(try keys(server, bucket: bucket).isEmpty)

        // Trusted through EPOCH_CA_CERT.
        let trusted = try run("/usr/bin/env", https + ["EPOCH_CA_CERT=\(server["FERRY_TEST_S3_CA_CERT"]!)", Paths.ferry, "copy", fixture, "epoch:s3://\(bucket)#app:v1"])
        #expect(trusted.status == 0, "\(trusted.stderr)")
        // Not checked at all on request.
        let unchecked = try run("/usr/bin/env", https + [Paths.ferry, "ls", "--tls-verify=false", "epoch:s3://\(bucket)", "app"])
        #expect(unchecked.stdout == "v1\n")
        #expect(try keys(server, bucket: bucket).contains("epoch/manifests/app/v1.json"))

        // A CA file that is not a certificate: one line naming it.
        let bad = try run("/usr/bin/env", https + ["EPOCH_CA_CERT=/etc/hostname", Paths.ferry, "ls", "epoch:s3://\(bucket)"])
        #expect(bad.status == 1 && bad.stderr == "ferry: EPOCH_CA_CERT=/etc/hostname: not a readable PEM certificate file\n")
    }
}
