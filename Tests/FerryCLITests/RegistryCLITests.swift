import Foundation
import OCI
import Testing

/// docker:// against the CNCF distribution registries `make test` starts (scripts/registry.sh),
/// with skopeo as the peer, and against scripts/fault-registry.py for what a real registry will
/// not do on purpose.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["FERRY_TEST_REGISTRY"] != nil, "needs the registries make test starts"))
struct RegistryCLITests {
    let environment = ProcessInfo.processInfo.environment
    var plain: String { environment["FERRY_TEST_REGISTRY"]! }
    var secure: String { environment["FERRY_TEST_REGISTRY_SECURE"]! }
    var ca: String { environment["FERRY_TEST_REGISTRY_CA"]! }
    var password: String { environment["FERRY_TEST_REGISTRY_PASSWORD"]! }

    /// ferry against the plain-HTTP registry (plain HTTP needs --tls-verify=false, as in skopeo).
    func ferryPlain(_ arguments: String...) throws -> Run {
        let command = arguments[0]
        let quiet = ["copy", "sync"].contains(command) ? ["--progress", "none"] : []
        return try ferry([command, "--tls-verify=false"] + quiet + arguments.dropFirst())
    }

    func skopeoDigest(_ reference: String) throws -> String? {
        let result = try run("skopeo", ["inspect", "--tls-verify=false", "--raw", reference])
        guard result.status == 0 else { return nil }
        return Digest.compute(Array(result.stdout.utf8)).description
    }

    func digest(_ result: Run) -> String? {
        jsonLines(result.stdout).last?["digest"] as? String
    }

    @Test func anIndexGoesUpAndComesBackAsSkopeoSeesIt() throws {
        let scratch = try Scratch()
        let fixture = "oci:\(Paths.fixture("multiarch-layout")):latest"
        let expected = try #require(digest(try ferry("inspect", "--json", fixture)))
        let pushed = try ferryPlain("copy", "--all", "--json", fixture, "docker://\(plain)/t1/multi:v1")
        #expect(pushed.status == 0, "\(pushed.stderr)")
        #expect(digest(pushed) == expected)
        #expect(try skopeoDigest("docker://\(plain)/t1/multi:v1") == expected)
        let back = try ferryPlain("copy", "--all", "--json", "docker://\(plain)/t1/multi:v1", "oci:\(scratch.path("back")):v1")
        #expect(back.status == 0 && digest(back) == expected, "\(back.stderr)")
        #expect(try ferry("verify", "oci:\(scratch.path("back"))").status == 0)
        let bySkopeo = try run("skopeo", ["copy", "-q", "--all", "--preserve-digests", "--src-tls-verify=false", "docker://\(plain)/t1/multi:v1", "oci:\(scratch.path("sk")):v1"])
        #expect(bySkopeo.status == 0, "\(bySkopeo.stderr)")
        #expect(try skopeoDigest("oci:\(scratch.path("sk")):v1") == expected)
        // By digest, and with a tag before the digest, as skopeo reads it.
        #expect(digest(try ferryPlain("inspect", "--json", "docker://\(plain)/t1/multi@\(expected)")) == expected)
        #expect(digest(try ferryPlain("inspect", "--json", "docker://\(plain)/t1/multi:nope@\(expected)")) == expected)
    }

    @Test func whatSkopeoPushesFerryPulls() throws {
        let scratch = try Scratch()
        let source = "oci:\(Paths.fixture("umoci-layout")):v1"
        let pushed = try run("skopeo", ["copy", "-q", "--preserve-digests", "--dest-tls-verify=false", source, "docker://\(plain)/t2/app:v1"])
        #expect(pushed.status == 0, "\(pushed.stderr)")
        let pulled = try ferryPlain("copy", "--json", "docker://\(plain)/t2/app:v1", "oci:\(scratch.path("x")):v1")
        #expect(pulled.status == 0, "\(pulled.stderr)")
        #expect(digest(pulled) == (try skopeoDigest(source)))
        #expect(try ferry("verify", "oci:\(scratch.path("x"))").status == 0)
    }

    @Test func snapshotAndCloudImageArtifactsTravelThroughARegistry() throws {
        let scratch = try Scratch()
        let export = "cocoon-archive:\(Paths.fixture("cocoon-export.tar"))"
        let expected = try #require(digest(try ferry("inspect", "--json", "--created", "0", export)))
        #expect(try ferryPlain("copy", "--created", "0", export, "docker://\(plain)/t3/snap:v1").status == 0)
        #expect(try skopeoDigest("docker://\(plain)/t3/snap:v1") == expected)
        let restored = try ferryPlain("copy", "docker://\(plain)/t3/snap:v1", "cocoon:\(scratch.path("root"))#snap")
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try ferry("ls", "cocoon:\(scratch.path("root"))").stdout == "snap\n")

        var disk = [UInt8](repeating: 0, count: 3 << 20)
        for index in stride(from: 0, to: disk.count, by: 4096) { disk[index] = UInt8(truncatingIfNeeded: index >> 12) }
        try Data(disk).write(to: URL(fileURLWithPath: scratch.path("disk.raw")))
        let diskPush = try ferryPlain("copy", "--json", "--created", "0", "disk:\(scratch.path("disk.raw"))", "docker://\(plain)/t3/disk:v1")
        #expect(diskPush.status == 0, "\(diskPush.stderr)")
        let diskDigest = try #require(digest(diskPush))
        #expect(try skopeoDigest("docker://\(plain)/t3/disk:v1") == diskDigest)
        let back = try ferryPlain("copy", "docker://\(plain)/t3/disk:v1", "disk:\(scratch.path("back.raw"))")
        #expect(back.status == 0, "\(back.stderr)")
        #expect(FileManager.default.contents(atPath: scratch.path("back.raw")) == Data(disk))
        // skopeo pulls both artifacts back identical.
        for (name, expectedDigest) in [("snap", expected), ("disk", diskDigest)] {
            let pulled = try run("skopeo", ["copy", "-q", "--preserve-digests", "--src-tls-verify=false", "docker://\(plain)/t3/\(name):v1", "oci:\(scratch.path("sk-\(name)")):v1"])
            #expect(pulled.status == 0, "\(pulled.stderr)")
            #expect(try skopeoDigest("oci:\(scratch.path("sk-\(name)")):v1") == expectedDigest)
            #expect(try ferry("verify", "oci:\(scratch.path("sk-\(name)"))").status == 0)
        }
    }

    @Test func aSecondPushMovesNoBlobAndASecondRepositoryMountsThem() throws {
        let source = "oci:\(Paths.fixture("umoci-layout")):v1"
        #expect(try ferryPlain("copy", source, "docker://\(plain)/t4/app:v1").status == 0)
        let again = jsonLines(try ferryPlain("copy", "--json", source, "docker://\(plain)/t4/app:v1").stdout).last
        #expect(again?["blobsCopied"] as? Int == 0 && (again?["blobsSkipped"] as? Int ?? 0) > 0)
        // Registry to another repository of the same registry: mounted, so the copy reads nothing.
        let other = "t4/other-\(UUID().uuidString.prefix(8).lowercased())"
        let mounted = try ferryPlain("copy", "--json", "docker://\(plain)/t4/app:v1", "docker://\(plain)/\(other):v1")
        #expect(mounted.status == 0, "\(mounted.stderr)")
        #expect(try skopeoDigest("docker://\(plain)/\(other):v1") == (try skopeoDigest(source)))
        // The registry's access log: every blob of the new repository came by a mount from t4/app,
        // none was read.
        let state = try #require(environment["FERRY_TEST_REGISTRY_STATE"])
        let log = try String(contentsOfFile: "\(state)/plain.log", encoding: .utf8).split(separator: "\n")
        let blobs = jsonLines(mounted.stdout).filter { $0["event"] as? String == "blob" && $0["action"] as? String == "copied" }.compactMap { $0["digest"] as? String }
        #expect(!blobs.isEmpty)
        for digest in blobs {
            let escaped = digest.replacingOccurrences(of: ":", with: "%3A")
            #expect(log.contains { line in
                line.contains("POST /v2/\(other)/blobs/uploads/?") && (line.contains("mount=\(digest)") || line.contains("mount=\(escaped)")) && line.contains("\" 201 ")
            }, "\(digest) mounted")
            #expect(!log.contains { $0.contains("GET /v2/t4/app/blobs/\(digest)") }, "\(digest) not read")
        }
    }

    @Test func largeBlobsGoUpInChunksAndDownThroughRedirects() throws {
        let scratch = try Scratch()
        let layout = scratch.path("big")
        #expect(try run("python3", [Paths.genLayout, "--size-mib", "24", "--layers", "1", "--tag", "v1", layout]).status == 0)
        let expected = try skopeoDigest("oci:\(layout):v1")
        let chunked = try ferryPlain("copy", "--max-chunk", "4M", "oci:\(layout):v1", "docker://\(plain)/t5/big:v1")
        #expect(chunked.status == 0, "\(chunked.stderr)")
        #expect(try skopeoDigest("docker://\(plain)/t5/big:v1") == expected)
        #expect(try ferryPlain("verify", "docker://\(plain)/t5/big:v1").status == 0)
        guard let s3 = environment["FERRY_TEST_REGISTRY_S3"] else { return }
        #expect(try ferryPlain("copy", "oci:\(layout):v1", "docker://\(s3)/t5/big:v1").status == 0)
        // The registry on S3 answers a blob GET with a redirect to the S3 host.
        let layer = try largestBlob(in: layout).hex
        let head = try run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://\(s3)/v2/t5/big/blobs/sha256:\(layer)"])
        #expect(head.stdout == "307")
        let pulled = try ferryPlain("copy", "--json", "docker://\(s3)/t5/big:v1", "oci:\(scratch.path("back")):v1")
        #expect(pulled.status == 0 && digest(pulled) == expected, "\(pulled.stderr)")
        #expect(try ferry("verify", "oci:\(scratch.path("back"))").status == 0)
    }

    @Test func listsAndSyncsWithPrefixes() throws {
        let scratch = try Scratch()
        #expect(try ferryPlain("sync", "oci:\(Paths.fixture("umoci-layout"))", "docker://\(plain)/t6/mirror").status == 0)
        #expect(try ferryPlain("ls", "docker://\(plain)", "t6/mirror").stdout == "v1\nv2\n")
        // A layout's tags have no repository name: the registry's root cannot take them.
        let unnamed = try ferryPlain("sync", "oci:\(Paths.fixture("umoci-layout"))", "docker://\(plain)")
        #expect(unnamed.status == 1 && unnamed.stderr.contains("sync into docker://\(plain)/NAME"), "\(unnamed.stderr)")
        let catalog = try ferryPlain("ls", "docker://\(plain)")
        #expect(catalog.stdout.split(separator: "\n").contains("t6/mirror"), "\(catalog.stdout)")
        let events = jsonLines(try ferryPlain("ls", "--json", "docker://\(plain)", "t6/mirror").stdout)
        #expect(events.filter { $0["event"] as? String == "tag" }.count == 2 && events.last?["tags"] as? Int == 2)
        let synced = try ferryPlain("sync", "docker://\(plain)/t6", "oci:\(scratch.path("back"))")
        #expect(synced.status == 0, "\(synced.stderr)")
        #expect(Set(try ferry("ls", "oci:\(scratch.path("back"))", "mirror").stdout.split(separator: "\n")) == ["v1", "v2"])
        let missing = try ferryPlain("inspect", "docker://\(plain)/t6/mirror:v9")
        #expect(missing.status == 1 && missing.errorLines.count == 1 && missing.stderr.contains("/t6/mirror:v9: no such manifest"), "\(missing.stderr)")
    }

    @Test func credentialsInEveryFormAndNeverInOutput() throws {
        let scratch = try Scratch()
        let source = "oci:\(Paths.fixture("umoci-layout")):v1"
        let target = "docker://\(secure)/t7/app:v1"
        let base = ["EPOCH_CA_CERT=\(ca)", "HOME=\(scratch.path("home"))", "DOCKER_CONFIG=\(scratch.path("docker"))", "REGISTRY_AUTH_FILE="]
        func push(_ extra: [String], _ arguments: [String] = []) throws -> Run {
            try run("/usr/bin/env", base + extra + [Paths.ferry, "copy", "--json", "--progress", "none"] + arguments + [source, target])
        }
        func expectClean(_ result: Run, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(!(result.stdout + result.stderr).contains(password), sourceLocation: sourceLocation)
            #expect(!(result.stdout + result.stderr).contains("Authorization"), sourceLocation: sourceLocation)
        }
        let anonymous = try push([])
        #expect(anonymous.status == 1 && anonymous.stderr.contains("no credentials were sent"), "\(anonymous.stderr)")
        let wrong = try push([], ["--creds", "ferry:not-the-password"])
        #expect(wrong.status == 1 && wrong.errorLines.count == 1 && wrong.stderr.contains("refused the credentials"), "\(wrong.stderr)")
        expectClean(wrong)
        let flag = try push([], ["--dest-creds", "ferry:\(password)"])
        #expect(flag.status == 0, "\(flag.stderr)")
        expectClean(flag)

        let auth = Data("ferry:\(password)".utf8).base64EncodedString()
        try FileManager.default.createDirectory(atPath: scratch.path("docker"), withIntermediateDirectories: true)
        try Data(#"{"auths":{"\#(secure)":{"auth":"\#(auth)"}}}"#.utf8).write(to: URL(fileURLWithPath: scratch.path("auth.json")))
        let authFile = try push(["REGISTRY_AUTH_FILE=\(scratch.path("auth.json"))"])
        #expect(authFile.status == 0, "\(authFile.stderr)")
        try Data(#"{"auths":{"https://\#(secure)":{"auth":"\#(auth)"}}}"#.utf8).write(to: URL(fileURLWithPath: scratch.path("docker/config.json")))
        let dockerConfig = try push([])
        #expect(dockerConfig.status == 0, "\(dockerConfig.stderr)")

        // A docker-credential helper on PATH, named by credHelpers.
        let bin = scratch.path("bin")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let helper = "#!/bin/sh\nread server\n[ \"$1\" = get ] && printf '{\"ServerURL\":\"%s\",\"Username\":\"ferry\",\"Secret\":\"\(password)\"}' \"$server\"\n"
        try Data(helper.utf8).write(to: URL(fileURLWithPath: bin + "/docker-credential-ferrytest"))
        chmod(bin + "/docker-credential-ferrytest", 0o755)
        try Data(#"{"credHelpers":{"\#(secure)":"ferrytest"}}"#.utf8).write(to: URL(fileURLWithPath: scratch.path("docker/config.json")))
        let helped = try push(["PATH=\(bin):\(environment["PATH"] ?? "/usr/bin:/bin")"])
        #expect(helped.status == 0, "\(helped.stderr)")
        expectClean(helped)
        // The same helper as the default store (credsStore), and a helper that is not installed.
        try Data(#"{"credsStore":"ferrytest"}"#.utf8).write(to: URL(fileURLWithPath: scratch.path("docker/config.json")))
        let stored = try push(["PATH=\(bin):\(environment["PATH"] ?? "/usr/bin:/bin")"])
        #expect(stored.status == 0, "\(stored.stderr)")
        try Data(#"{"credHelpers":{"\#(secure)":"absent"}}"#.utf8).write(to: URL(fileURLWithPath: scratch.path("docker/config.json")))
        let absent = try push([])
        #expect(absent.status == 1 && absent.errorLines.count == 1 && absent.stderr.contains("docker-credential-absent: not found"), "\(absent.stderr)")
    }

    /// The registry's `auth: token` flow: Basic credentials (or a docker identity token) buy a
    /// Bearer token per scope at the realm the challenge names.
    @Test func bearerTokensFromTheChallengesRealm() throws {
        let scratch = try Scratch()
        let registry = try #require(environment["FERRY_TEST_REGISTRY_TOKEN_AUTH"])
        let source = "oci:\(Paths.fixture("umoci-layout")):v1"
        let base = ["HOME=\(scratch.path("home"))", "DOCKER_CONFIG=\(scratch.path("docker"))", "REGISTRY_AUTH_FILE=", Paths.ferry]
        func ferryHere(_ arguments: [String]) throws -> Run { try run("/usr/bin/env", base + arguments) }
        let anonymous = try ferryHere(["copy", "--tls-verify=false", "--progress", "none", source, "docker://\(registry)/t9/app:v1"])
        #expect(anonymous.status == 1 && anonymous.stderr.contains("token endpoint") && anonymous.stderr.contains("no credentials"), "\(anonymous.stderr)")
        let wrong = try ferryHere(["copy", "--tls-verify=false", "--progress", "none", "--creds", "ferry:nope", source, "docker://\(registry)/t9/app:v1"])
        #expect(wrong.status == 1 && wrong.errorLines.count == 1 && wrong.stderr.contains("UNAUTHORIZED"), "\(wrong.stderr)")
        let right = try ferryHere(["copy", "--tls-verify=false", "--json", "--progress", "none", "--creds", "ferry:\(password)", source, "docker://\(registry)/t9/app:v1"])
        #expect(right.status == 0, "\(right.stderr)")
        #expect(!(right.stdout + right.stderr).contains(password))
        #expect(try ferryHere(["ls", "--tls-verify=false", "--creds", "ferry:\(password)", "docker://\(registry)", "t9/app"]).stdout == "v1\n")
        #expect(try ferryHere(["ls", "--tls-verify=false", "--creds", "ferry:\(password)", "docker://\(registry)"]).stdout.contains("t9/app"))
        // A whole registry verifies by what its tags reach.
        let verified = try ferryHere(["verify", "--tls-verify=false", "--json", "--creds", "ferry:\(password)", "docker://\(registry)"])
        #expect(verified.status == 0 && jsonLines(verified.stdout).last?["ok"] as? Bool == true, "\(verified.stdout)\(verified.stderr)")
        #expect((jsonLines(verified.stdout).last?["manifests"] as? Int ?? 0) >= 1)
        // An identity token from `docker login`, exchanged with grant_type=refresh_token.
        try FileManager.default.createDirectory(atPath: scratch.path("docker"), withIntermediateDirectories: true)
        try Data(#"{"auths":{"\#(registry)":{"identitytoken":"refresh-\#(password)"}}}"#.utf8).write(to: URL(fileURLWithPath: scratch.path("docker/config.json")))
        let identity = try ferryHere(["copy", "--tls-verify=false", "--progress", "none", "docker://\(registry)/t9/app:v1", "oci:\(scratch.path("back")):v1"])
        #expect(identity.status == 0, "\(identity.stderr)")
    }

    /// The CNCF registry stopped in the middle of a chunked push (it finishes the request in
    /// flight, as a restarted registry does) and started again: the rerun continues the blob from
    /// the session the journal remembers, sending only the chunks the registry lacks, and the tag
    /// appears only at the end.
    @Test func aPushContinuesAfterTheRegistryRestarts() throws {
        let scratch = try Scratch()
        let script = Paths.packageRoot.appendingPathComponent("scripts/registry.sh").path
        let state = scratch.path("registry")
        #expect(try run("bash", [script, "start", state, "plain"]).status == 0)
        defer { _ = try? run("bash", [script, "stop", state]) }
        let host = try #require(try String(contentsOfFile: state + "/ports", encoding: .utf8).split(separator: "=").last.map {
            "127.0.0.1:" + $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        let layout = scratch.path("big")
        #expect(try run("python3", [Paths.genLayout, "--size-mib", "64", "--layers", "1", "--tag", "v1", layout]).status == 0)
        let push = ["XDG_CACHE_HOME=\(scratch.path("cache"))", Paths.ferry, "copy", "--tls-verify=false", "--progress", "none", "--jobs", "1",
                    "--max-chunk", "1M", "oci:\(layout):v1", "docker://\(host)/t11/big:v1"]
        func log() -> [Substring] { ((try? String(contentsOfFile: state + "/plain.log", encoding: .utf8)) ?? "").split(separator: "\n") }
        func patches(_ lines: [Substring]) -> Int { lines.filter { $0.contains("\"PATCH /v2/t11/big/blobs/uploads/") && $0.contains("\" 202 ") }.count }

        let first = try Child("/usr/bin/env", push)
        var waited = 0
        while patches(log()) < 8, first.isRunning, waited < 3000 {
            usleep(2000)
            waited += 1
        }
        #expect(try run("bash", [script, "stop", state]).status == 0)
        let interrupted = first.wait()
        #expect(interrupted.status == 1, "the push was stopped in the middle: \(interrupted.stderr)")
        let before = log()
        #expect(!before.contains { $0.contains("PUT /v2/t11/big/manifests/v1") }, "no tag before everything is there")
        #expect(try run("bash", [script, "restart", state, "plain"]).status == 0)

        let rerun = try run("/usr/bin/env", push)
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let after = Array(log().dropFirst(before.count))
        // 64 chunks of 1 MiB in all: what the first run got through is not sent again. The
        // request the registry finished while stopping may have lost its answer on the way back:
        // the rerun then sends that one chunk again (the registry's GET says what it holds).
        let sent = (first: patches(before), rerun: patches(after))
        #expect(sent.first >= 8 && sent.rerun <= 64 - sent.first + 1 && sent.first + sent.rerun >= 64, "\(sent)")
        #expect(after.last { $0.contains("\"PUT ") }?.contains("/manifests/v1") == true, "the tag comes last")
        #expect(try ferry("verify", "--tls-verify=false", "docker://\(host)/t11/big:v1").status == 0)
    }

    @Test func tlsIsVerifiedAgainstTheSystemOrANamedCA() throws {
        let source = "oci:\(Paths.fixture("umoci-layout")):v1"
        let untrusted = try ferry("copy", "--progress", "none", "--creds", "ferry:\(password)", source, "docker://\(secure)/t8/app:v1")
        #expect(untrusted.status == 1 && untrusted.stderr.contains("not trusted"), "\(untrusted.stderr)")
        let named = try run("/usr/bin/env", ["EPOCH_CA_CERT=\(ca)", Paths.ferry, "copy", "--progress", "none", "--creds", "ferry:\(password)", source, "docker://\(secure)/t8/app:v1"])
        #expect(named.status == 0, "\(named.stderr)")
        let unchecked = try ferry("ls", "--tls-verify=false", "--creds", "ferry:\(password)", "docker://\(secure)", "t8/app")
        #expect(unchecked.stdout == "v1\n", "\(unchecked.stderr)")
    }
}

/// A registry that lies, corrupts, drops and fails on purpose (scripts/fault-registry.py).
@Suite struct RegistryFaultTests {
    final class FaultRegistry {
        let child: Child
        let host: String
        let log: String

        /// A fault registry serving `layout` (the umoci fixture by default).
        init(_ scratch: Scratch, layout: String = Paths.fixture("umoci-layout")) throws {
            log = scratch.path("requests.log")
            let portFile = scratch.path("port")
            child = try Child("python3", [Paths.packageRoot.appendingPathComponent("scripts/fault-registry.py").path,
                                          layout, portFile, log])
            var port: String?
            for _ in 0..<100 where port == nil {
                port = try? String(contentsOfFile: portFile, encoding: .utf8)
                if port == nil { usleep(50_000) }
            }
            host = "127.0.0.1:\(port ?? "0")"
        }

        var requests: [String] { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }

        deinit { kill(child.pid, SIGKILL) }
    }

    func pull(_ registry: FaultRegistry, _ mode: String, into destination: String) throws -> Run {
        try ferry("copy", "--tls-verify=false", "--progress", "none", "docker://\(registry.host)/\(mode)/app:v1", "oci:\(destination):v1")
    }

    @Test func aManifestThatIsNotWhatTheRegistrySaysIsRefused() throws {
        let scratch = try Scratch()
        let registry = try FaultRegistry(scratch)
        let result = try pull(registry, "lying", into: scratch.path("dst"))
        #expect(result.status == 1 && result.errorLines.count == 1 && result.stderr.contains("Docker-Content-Digest"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("dst")))
    }

    @Test func aBlobThatIsNotItsDigestIsRefusedAndNothingIsTagged() throws {
        let scratch = try Scratch()
        let registry = try FaultRegistry(scratch)
        let result = try pull(registry, "corrupt", into: scratch.path("dst"))
        #expect(result.status == 1 && result.errorLines.count == 1 && result.stderr.contains("sha256"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("dst")))
    }

    @Test func aDroppedDownloadContinuesWithRange() throws {
        let scratch = try Scratch()
        let registry = try FaultRegistry(scratch)
        let result = try pull(registry, "dropping", into: scratch.path("dst"))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try ferry("verify", "oci:\(scratch.path("dst"))").status == 0)
        #expect(registry.requests.contains { $0.contains(" GET /v2/dropping/app/blobs/") && $0.contains("bytes=") }, "\(registry.requests)")
    }

    /// A push cut off in the middle of a blob (the registry keeps what arrived, as the spec lets
    /// it) continues on the rerun from the offset the registry holds: the journal under
    /// XDG_CACHE_HOME remembers the session, the rerun sends only the rest, the tag comes last.
    @Test func anInterruptedPushContinuesWhereTheRegistryStopped() throws {
        let scratch = try Scratch()
        let registry = try FaultRegistry(scratch)
        let layout = scratch.path("big")
        #expect(try run("python3", [Paths.genLayout, "--size-mib", "24", "--layers", "1", "--tag", "v1", layout]).status == 0)
        let size = try largestBlob(in: layout).size
        let push = ["/usr/bin/env", "XDG_CACHE_HOME=\(scratch.path("cache"))", Paths.ferry, "copy", "--tls-verify=false", "--progress", "none",
                    "--max-chunk", "4M", "oci:\(layout):v1", "docker://\(registry.host)/resumable/app:v1"]
        func patched(_ lines: [String]) -> Int {
            lines.filter { $0.contains(" PATCH ") }.compactMap { $0.split(separator: "=").last.flatMap { Int($0) } }.reduce(0, +)
        }
        let first = try run(push[0], Array(push.dropFirst()))
        #expect(first.status == 1 && first.errorLines.count == 1 && first.stderr.contains("closed the connection"), "\(first.stderr)")
        let before = registry.requests
        #expect(!before.contains { $0.contains("/manifests/v1") }, "no tag before everything is there")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("cache/ferry/uploads")).count == 1)
        let held = patched(before)
        // The registry asked for chunks of at least 6 MiB: half of the first was kept.
        #expect(held == 3 << 20, "\(before)")

        let second = try run(push[0], Array(push.dropFirst()))
        #expect(second.status == 0, "\(second.stderr)")
        let rerun = Array(registry.requests.dropFirst(before.count))
        #expect(patched(rerun) == size - held, "the rerun sends only what the registry lacks")
        let sizes = rerun.filter { $0.contains(" PATCH ") }.compactMap { $0.split(separator: "=").last.flatMap { Int($0) } }
        #expect(sizes.dropLast().allSatisfy { $0 == 6 << 20 }, "the registry's minimum chunk holds after the resume: \(sizes)")
        #expect(rerun.last?.contains(" PUT /v2/resumable/app/manifests/v1") == true, "the tag comes last: \(rerun)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("cache/ferry/uploads")).isEmpty)
        let back = try pull(registry, "resumable", into: scratch.path("back"))
        #expect(back.status == 0, "\(back.stderr)")
    }

    /// A blob GET redirected to another host (a presigned storage URL) is followed without the
    /// registry's credentials; the token itself is sent as it is (`--registry-token`).
    @Test func credentialsDoNotFollowARedirectToAnotherHost() throws {
        let scratch = try Scratch()
        let registry = try FaultRegistry(scratch)
        let result = try ferry("copy", "--tls-verify=false", "--progress", "none", "--json", "--registry-token", "raw-secret-token",
                               "docker://\(registry.host)/redirecting/app:v1", "oci:\(scratch.path("dst")):v1")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!(result.stdout + result.stderr).contains("raw-secret-token"))
        let requests = registry.requests
        let toRegistry = requests.filter { $0.hasPrefix("127.0.0.1 ") }
        let redirected = requests.filter { $0.hasPrefix("localhost ") }
        #expect(!toRegistry.isEmpty && toRegistry.allSatisfy { $0.contains("auth=Bearer") }, "\(requests)")
        #expect(!redirected.isEmpty && redirected.allSatisfy { $0.contains("auth=-") }, "\(requests)")
    }

    @Test func dockerSchemaOneIsRefusedByName() throws {
        let scratch = try Scratch()
        let registry = try FaultRegistry(scratch)
        let result = try pull(registry, "schema1", into: scratch.path("dst"))
        #expect(result.status == 1 && result.errorLines.count == 1 && result.stderr.contains("Docker schema 1"), "\(result.stderr)")
    }

    /// A token that runs out in the middle of a pull is renewed at the realm and the request
    /// sent again, however many requests are in flight with the old one.
    @Test func anExpiredTokenIsRenewedMidway() throws {
        let scratch = try Scratch()
        let registry = try FaultRegistry(scratch)
        let result = try pull(registry, "expiring", into: scratch.path("dst"))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try ferry("verify", "oci:\(scratch.path("dst"))").status == 0)
        let requests = registry.requests
        #expect(requests.filter { $0.contains("issued=") }.count >= 2, "\(requests)")
        let firstIssue = try #require(requests.firstIndex { $0.contains("issued=") })
        #expect(requests[(firstIssue + 1)...].contains { $0.contains(" refused") }, "a refusal after the first token: \(requests)")
    }

    @Test func throttlingIsWaitedOut() throws {
        let scratch = try Scratch()
        let registry = try FaultRegistry(scratch)
        let started = Date()
        let result = try pull(registry, "throttled", into: scratch.path("dst"))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Date().timeIntervalSince(started) >= 1, "Retry-After: 1 is honoured")
        #expect(registry.requests.filter { $0.contains(" GET /v2/throttled/app/manifests/") }.count >= 2)
    }

    @Test func serverErrorsAreRetried() throws {
        let scratch = try Scratch()
        let registry = try FaultRegistry(scratch)
        let result = try pull(registry, "flaky", into: scratch.path("dst"))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(registry.requests.filter { $0.contains(" GET /v2/flaky/app/manifests/") }.count >= 2)
    }
}

/// `--referrers`: what refers to a copied manifest through its `subject` goes along, recursively,
/// into a registry without a referrers API (the CNCF registry: the tag-schema fallback) and back.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["FERRY_TEST_REGISTRY"] != nil, "needs the registries make test starts"))
struct ReferrersCLITests {
    var plain: String { ProcessInfo.processInfo.environment["FERRY_TEST_REGISTRY"]! }

    /// Writes `bytes` as a blob of `layout` and returns its descriptor.
    func blob(_ bytes: [UInt8], _ mediaType: String, in layout: String) throws -> [String: Any] {
        let digest = Digest.compute(bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: "\(layout)/blobs/sha256/\(digest.encoded)"))
        return ["mediaType": mediaType, "digest": digest.description, "size": bytes.count]
    }

    /// The umoci fixture plus a signature of its v1 image and an attestation of that signature,
    /// both untagged in index.json. Returns the layout, v1's digest and the two referrers' digests.
    func layoutWithReferrers(_ scratch: Scratch) throws -> (String, String, [String]) {
        let layout = scratch.path("signed")
        try FileManager.default.copyItem(atPath: Paths.fixture("umoci-layout"), toPath: layout)
        let indexURL = URL(fileURLWithPath: layout + "/index.json")
        var index = try JSONSerialization.jsonObject(with: Data(contentsOf: indexURL)) as! [String: Any]
        var entries = index["manifests"] as! [[String: Any]]
        let v1 = entries.first { ($0["annotations"] as? [String: String])?["org.opencontainers.image.ref.name"] == "v1" }!
        var subject = v1
        subject["annotations"] = nil
        var digests: [String] = []
        for (kind, text) in [("application/vnd.example.signature.v1", "signature"), ("application/vnd.example.attestation.v1", "attestation")] {
            let config = try blob(Array("{}".utf8), "application/vnd.oci.empty.v1+json", in: layout)
            let layer = try blob(Array("\(text) of \(subject["digest"]!)".utf8), "application/octet-stream", in: layout)
            let manifest: [String: Any] = ["schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "artifactType": kind,
                                           "config": config, "layers": [layer], "subject": subject]
            let descriptor = try blob(Array(try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys])),
                                      "application/vnd.oci.image.manifest.v1+json", in: layout)
            entries.append(descriptor)
            digests.append(descriptor["digest"] as! String)
            subject = descriptor
        }
        index["manifests"] = entries
        try JSONSerialization.data(withJSONObject: index).write(to: indexURL)
        return (layout, v1["digest"] as! String, digests)
    }

    @Test func referrersGoAlongIntoARegistryAndBack() throws {
        let scratch = try Scratch()
        let (layout, image, referrers) = try layoutWithReferrers(scratch)
        let pushed = try ferry("copy", "--tls-verify=false", "--progress", "none", "--referrers", "oci:\(layout):v1", "docker://\(plain)/t10/app:v1")
        #expect(pushed.status == 0, "\(pushed.stderr)")
        // The registry has no referrers API: the fallback index names the signature, and the
        // signature's own fallback index names the attestation.
        for (subject, referrer) in [(image, referrers[0]), (referrers[0], referrers[1])] {
            let fallback = try run("skopeo", ["inspect", "--tls-verify=false", "--raw", "docker://\(plain)/t10/app:\(subject.replacingOccurrences(of: ":", with: "-"))"])
            #expect(fallback.status == 0 && fallback.stdout.contains(referrer), "\(subject): \(fallback.stdout)\(fallback.stderr)")
        }
        let back = scratch.path("back")
        let pulled = try ferry("copy", "--tls-verify=false", "--progress", "none", "--referrers", "docker://\(plain)/t10/app:v1", "oci:\(back):v1")
        #expect(pulled.status == 0, "\(pulled.stderr)")
        let index = try String(contentsOfFile: back + "/index.json", encoding: .utf8)
        #expect(referrers.allSatisfy(index.contains), "\(index)")
        #expect(try ferry("verify", "oci:\(back)").status == 0)
        // Without --referrers only the image travels.
        let alone = scratch.path("alone")
        #expect(try ferry("copy", "--tls-verify=false", "--progress", "none", "docker://\(plain)/t10/app:v1", "oci:\(alone):v1").status == 0)
        #expect(!referrers.contains(where: (try String(contentsOfFile: alone + "/index.json", encoding: .utf8)).contains))
    }
}
