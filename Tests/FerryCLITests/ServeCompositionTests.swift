import Foundation
import OCI
import Testing

/// `ferry serve` composing places: several as one, a prefix filter, a proxy with a pull-through
/// cache, a directory of layouts per repository (issue 15, point 6). The wrappers are storage
/// backends: `sync --per-repository` uses the same one.
@Suite struct ServeCompositionTests {
    /// A layout holding the skopeo fixture's image under the full name `NAME:TAG`.
    func namedLayout(_ path: String, _ name: String) throws {
        let copied = try ferry("copy", "--progress", "none", "--ref-name", "named", "oci:\(Paths.fixture("skopeo-layout")):v1", "oci:\(path):\(name)")
        #expect(copied.status == 0, "\(copied.stderr)")
    }

    @Test func twoLocationsServedAsOneAndAPrefixFilter() throws {
        let scratch = try Scratch()
        let (a, b) = (scratch.path("a"), scratch.path("b"))
        try namedLayout(a, "alpha/app:v1")
        let bucket = scratch.path("bucket")
        try FileManager.default.createDirectory(atPath: bucket, withIntermediateDirectories: false)
        #expect(try ferry("copy", "--progress", "none", "--all", "oci:\(Paths.fixture("multiarch-layout")):latest", "epoch:\(bucket)#beta/multi:v2").status == 0)
        try FileManager.default.createDirectory(atPath: b, withIntermediateDirectories: false)
        let union = try Served(["oci:\(a)", "epoch:\(bucket)"])
        #expect(try http("GET", "\(union.url)/v2/_catalog").json?["repositories"] as? [String] == ["alpha/app", "beta/multi"])
        #expect(try http("GET", "\(union.url)/v2/beta/multi/manifests/v2").status == 200)
        #expect(try http("GET", "\(union.url)/v2/alpha/app/manifests/v1").status == 200)
        // A push goes to the first; a manifest naming blobs only the second holds brings them along.
        let index = try http("GET", "\(union.url)/v2/beta/multi/manifests/v2")
        let pushed = try http("PUT", "\(union.url)/v2/beta/multi/manifests/v3", headers: ["Content-Type": index.headers["content-type"]!], body: index.body)
        #expect(pushed.status == 201, "\(pushed.text)")
        #expect(try ferry("verify", "oci:\(a)").status == 0)
        #expect(try ferry("inspect", "oci:\(a):beta/multi:v3").status == 0)
        // What a client is told never names the server's files.
        let refused = try http("PUT", "\(union.url)/v2/beta/multi/manifests/v4", headers: ["Content-Type": "application/vnd.oci.image.manifest.v1+json"],
                               body: Data(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:\#(String(repeating: "5", count: 64))","size":3},"layers":[]}"#.utf8))
        #expect(refused.errorCode == "MANIFEST_BLOB_UNKNOWN" && !refused.text.contains(scratch.url.path))

        let filtered = try Served(["oci:\(a)", "epoch:\(bucket)", "--only", "beta"])
        #expect(try http("GET", "\(filtered.url)/v2/_catalog").json?["repositories"] as? [String] == ["beta/multi"])
        #expect(try http("GET", "\(filtered.url)/v2/alpha/app/manifests/v1").errorCode == "NAME_UNKNOWN")
        #expect(try http("GET", "\(filtered.url)/v2/beta/multi/tags/list").json?["tags"] as? [String] == ["v2", "v3"])
    }

    @Test(.enabled(if: have("docker-registry"), "needs Debian's docker-registry"))
    func aPullThroughCacheKeepsWhatItServesForOfflineUse() throws {
        let scratch = try Scratch()
        let script = Paths.packageRoot.appendingPathComponent("scripts/registry.sh").path
        let state = scratch.path("registry")
        #expect(try run("bash", [script, "start", state, "plain"]).status == 0)
        defer { _ = try? run("bash", [script, "stop", state]) }
        let upstream = try #require(try String(contentsOfFile: state + "/env", encoding: .utf8).split(separator: "\n")
            .first { $0.hasPrefix("FERRY_TEST_REGISTRY=") }?.split(separator: "=").last.map(String.init))
        let fixture = "oci:\(Paths.fixture("multiarch-layout")):latest"
        #expect(try ferry("copy", "--progress", "none", "--all", "--tls-verify=false", fixture, "docker://\(upstream)/lib/multi:v1").status == 0)
        let cache = scratch.path("cache")
        let proxy = try Served(["--cache", "oci:\(cache)", "--tls-verify=false", "docker://\(upstream)"])
        let expected = try #require(jsonLines(try ferry("inspect", "--json", fixture).stdout).last?["digest"] as? String)
        func pull(_ into: String) throws -> Run {
            if have("skopeo") {
                return try run("skopeo", ["copy", "--all", "--src-tls-verify=false", "docker://\(proxy.address)/lib/multi:v1", "oci:\(into):v1"])
            }
            return try ferry("copy", "--progress", "none", "--all", "--tls-verify=false", "docker://\(proxy.address)/lib/multi:v1", "oci:\(into):v1")
        }
        let first = try pull(scratch.path("first"))
        #expect(first.status == 0, "\(first.stderr)")
        // The cache fills in the background; then it holds the tag, verified.
        var kept = false
        for _ in 0..<150 where !kept {
            kept = try ferry("inspect", "--json", "oci:\(cache):lib/multi:v1").status == 0
            if !kept { usleep(100_000) }
        }
        #expect(kept)
        #expect(try ferry("verify", "oci:\(cache)").status == 0)
        // With the upstream gone, the same pull works from the cache.
        #expect(try run("bash", [script, "stop", state]).status == 0)
        let offline = try pull(scratch.path("offline"))
        #expect(offline.status == 0, "\(offline.stderr)")
        #expect(jsonLines(try ferry("inspect", "--json", "oci:\(scratch.path("offline")):v1").stdout).last?["digest"] as? String == expected)
    }

    @Test func aDirectoryOfLayoutsPerRepository() throws {
        let scratch = try Scratch()
        let root = scratch.path("repos")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
        let server = try Served(["oci:\(root)", "--per-repository"])
        for name in ["team/app", "tools"] {
            let pushed = try ferry("copy", "--progress", "none", "--tls-verify=false", "oci:\(Paths.fixture("skopeo-layout")):v1", "docker://\(server.address)/\(name):v1")
            #expect(pushed.status == 0, "\(pushed.stderr)")
        }
        // Each repository is a layout of its own, with its bare tags.
        #expect(FileManager.default.fileExists(atPath: root + "/team/app/index.json") && FileManager.default.fileExists(atPath: root + "/tools/index.json"))
        #expect(try ferry("verify", "oci:\(root)/team/app").status == 0)
        #expect(try http("GET", "\(server.url)/v2/_catalog").json?["repositories"] as? [String] == ["team/app", "tools"])
        // A symlink planted inside is not followed.
        try FileManager.default.createSymbolicLink(atPath: root + "/escape", withDestinationPath: "/etc")
        #expect(try http("GET", "\(server.url)/v2/escape/tags/list").status == 404)
        // sync reads and writes the same form.
        let copied = scratch.path("copied")
        let synced = try ferry("sync", "--progress", "none", "--per-repository", "oci:\(root)", "oci:\(copied)")
        #expect(synced.status == 0, "\(synced.stderr)")
        #expect(try ferry("inspect", "oci:\(copied)/team/app:v1").status == 0 && ferry("inspect", "oci:\(copied)/tools:v1").status == 0)
    }
}
