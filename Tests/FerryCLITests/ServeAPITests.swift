import Foundation
import OCI
import Testing

/// `ferry serve` against the distribution spec 1.1, endpoint by endpoint, with curl (issue 15).
@Suite struct ServeAPITests {
    /// A copy of the skopeo fixture layout (one image, tag v1), served.
    func servedLayout(_ scratch: Scratch, extra: [String] = []) throws -> (Served, String) {
        let layout = scratch.path("lay")
        try FileManager.default.copyItem(atPath: Paths.fixture("skopeo-layout"), toPath: layout)
        return (try Served(["oci:\(layout)"] + extra), layout)
    }

    func manifestOf(_ layout: String) throws -> (digest: String, bytes: Data, layer: String) {
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: layout + "/index.json"))) as! [String: Any]
        let digest = ((index["manifests"] as! [[String: Any]])[0]["digest"]) as! String
        let bytes = try Data(contentsOf: URL(fileURLWithPath: layout + "/blobs/sha256/" + digest.dropFirst(7)))
        let manifest = try JSONSerialization.jsonObject(with: bytes) as! [String: Any]
        let layer = ((manifest["layers"] as! [[String: Any]])[0]["digest"]) as! String
        return (digest, bytes, layer)
    }

    @Test func readsAnswerWithTheSpecsStatusesAndHeaders() throws {
        let scratch = try Scratch()
        let (server, layout) = try servedLayout(scratch)
        let (digest, bytes, layer) = try manifestOf(layout)
        let base = try http("GET", "\(server.url)/v2/")
        #expect(base.status == 200 && base.headers["docker-distribution-api-version"] == "registry/2.0")
        #expect(try http("GET", "\(server.url)/v2/_catalog").json?["repositories"] as? [String] == ["lay"])
        #expect(try http("GET", "\(server.url)/v2/lay/tags/list").json?["tags"] as? [String] == ["v1"])

        let head = try http("HEAD", "\(server.url)/v2/lay/manifests/v1")
        #expect(head.status == 200)
        #expect(head.headers["content-type"] == "application/vnd.oci.image.manifest.v1+json")
        #expect(head.headers["docker-content-digest"] == digest && head.headers["content-length"] == "\(bytes.count)")
        let byTag = try http("GET", "\(server.url)/v2/lay/manifests/v1")
        #expect(byTag.status == 200 && byTag.body == bytes)
        let byDigest = try http("GET", "\(server.url)/v2/lay/manifests/\(digest)")
        #expect(byDigest.status == 200 && byDigest.body == bytes && byDigest.headers["docker-content-digest"] == digest)
        let missing = try http("GET", "\(server.url)/v2/lay/manifests/v9")
        #expect(missing.status == 404 && missing.errorCode == "MANIFEST_UNKNOWN")
        #expect(try http("GET", "\(server.url)/v2/lay/manifests/sha256:\(String(repeating: "0", count: 64))").errorCode == "MANIFEST_UNKNOWN")
        #expect(try http("GET", "\(server.url)/v2/nope/tags/list").status == 404)
        // A tag lives in its own repository only.
        #expect(try http("GET", "\(server.url)/v2/nope/manifests/v1").errorCode == "MANIFEST_UNKNOWN")

        let blob = try Data(contentsOf: URL(fileURLWithPath: layout + "/blobs/sha256/" + layer.dropFirst(7)))
        let blobHead = try http("HEAD", "\(server.url)/v2/lay/blobs/\(layer)")
        #expect(blobHead.status == 200 && blobHead.headers["content-length"] == "\(blob.count)" && blobHead.headers["docker-content-digest"] == layer)
        let whole = try http("GET", "\(server.url)/v2/lay/blobs/\(layer)")
        #expect(whole.status == 200 && whole.body == blob)
        let part = try http("GET", "\(server.url)/v2/lay/blobs/\(layer)", headers: ["Range": "bytes=10-19"])
        #expect(part.status == 206 && part.body == blob[10..<20] && part.headers["content-range"] == "bytes 10-19/\(blob.count)")
        let tail = try http("GET", "\(server.url)/v2/lay/blobs/\(layer)", headers: ["Range": "bytes=-5"])
        #expect(tail.status == 206 && tail.body == blob.suffix(5))
        let open = try http("GET", "\(server.url)/v2/lay/blobs/\(layer)", headers: ["Range": "bytes=\(blob.count - 3)-"])
        #expect(open.status == 206 && open.body == blob.suffix(3))
        let beyond = try http("GET", "\(server.url)/v2/lay/blobs/\(layer)", headers: ["Range": "bytes=\(blob.count)-"])
        #expect(beyond.status == 416 && beyond.headers["content-range"] == "bytes */\(blob.count)")
        #expect(try http("GET", "\(server.url)/v2/lay/blobs/sha256:\(String(repeating: "1", count: 64))").errorCode == "BLOB_UNKNOWN")
        let bad = try http("GET", "\(server.url)/v2/lay/blobs/sha256:xyz")
        #expect(bad.status == 400 && bad.errorCode == "DIGEST_INVALID")
        #expect(try http("GET", "\(server.url)/v2/Upper/tags/list").status == 404)
        #expect(try http("GET", "\(server.url)/nothing").status == 404)
        // Metrics count what was answered.
        let metrics = try http("GET", "\(server.url)/metrics")
        #expect(metrics.status == 200 && metrics.headers["content-type"]?.hasPrefix("text/plain") == true)
        #expect(metrics.text.contains(#"ferry_http_requests_total{method="GET",status="200"}"#))
        #expect(metrics.text.contains(#"ferry_http_requests_total{method="GET",status="404"}"#))
        #expect(metrics.text.contains("ferry_http_response_bytes_total ") && metrics.text.contains("ferry_uploads_in_progress 0"))
        let stopped = server.stop()
        #expect(stopped.status == 0)
        // One access-log line per request, after the start-up line that names the location.
        #expect(stopped.stderr.hasPrefix("ferry: serving oci:\(layout) (read-write) on http://"))
        #expect(stopped.stderr.contains(" GET /v2/lay/blobs/\(layer) 206 in=0 out=10 "))
    }

    /// The bytes `/metrics` counts as sent with sendfile.
    func sentFromFiles(_ server: Served) throws -> Int {
        let metrics = try http("GET", "\(server.url)/metrics").text
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("ferry_sendfile_bytes_total ") }
        return line.flatMap { Int(Double($0.split(separator: " ")[1]) ?? -1) } ?? 0
    }

    /// A blob that is a file goes out with sendfile once the file has been verified, in a layout
    /// and in a plain archive (a piece of the tar); a file changed since is hashed again, so
    /// bad bytes are still cut off; two blobs in a row on one connection both arrive whole.
    @Test(arguments: ["oci", "oci-archive"])
    func verifiedFileBlobsGoOutWithSendfile(_ transport: String) throws {
        let scratch = try Scratch()
        let disk = scratch.path("disk.raw")
        var random = SystemRandomNumberGenerator()
        let content = Data((0..<(6 << 20)).map { _ in UInt8.random(in: 0...255, using: &random) })
        try content.write(to: URL(fileURLWithPath: disk))
        #expect(try ferry("copy", "--progress", "none", "disk:\(disk)", "oci:\(scratch.path("lay")):v1").status == 0)
        var location = "oci:\(scratch.path("lay"))"
        if transport == "oci-archive" {
            #expect(try ferry("copy", "--progress", "none", "oci:\(scratch.path("lay")):v1", "oci-archive:\(scratch.path("lay.tar")):v1").status == 0)
            location = "oci-archive:\(scratch.path("lay.tar"))"
        }
        let server = try Served([location, "--repository", "lay"])
        let layer = sha256(content)
        let url = "\(server.url)/v2/lay/blobs/\(layer)"
        // The first read hashes the file; the next ones are sent by the kernel.
        #expect(try http("GET", url).body == content)
        #expect(try sentFromFiles(server) == 0)
        let twice = try run("curl", ["-s", "-o", scratch.path("a"), "-o", scratch.path("b"), url, url])
        #expect(twice.status == 0)
        for name in ["a", "b"] { #expect(FileManager.default.contents(atPath: scratch.path(name)) == content) }
        #expect(try sentFromFiles(server) == 2 * content.count)
        let stopped = server.stop()
        #expect(stopped.stderr.contains(" GET /v2/lay/blobs/\(layer) 200 in=0 out=\(content.count) "))

        // A layout's blob changed in place (same size) is hashed again and cut off.
        guard transport == "oci" else { return }
        let again = try Served([location, "--repository", "lay"])
        #expect(try http("GET", "\(again.url)/v2/lay/blobs/\(layer)").body == content)
        let path = scratch.path("lay/blobs/sha256") + "/" + layer.dropFirst(7)
        var changed = content
        changed[changed.count - 1] ^= 0xff
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.write(contentsOf: changed)
        try handle.close()
        let result = try run("curl", ["-s", "-o", scratch.path("c"), "\(again.url)/v2/lay/blobs/\(layer)"])
        #expect(result.status != 0)
        #expect((FileManager.default.contents(atPath: scratch.path("c"))?.count ?? 0) < content.count)
        #expect(try sentFromFiles(again) == 0)
    }

    @Test func aBlobThatDoesNotHashToItsDigestIsCutOffNotServed() throws {
        let scratch = try Scratch()
        let (server, layout) = try servedLayout(scratch)
        let (_, _, layer) = try manifestOf(layout)
        let path = layout + "/blobs/sha256/" + layer.dropFirst(7)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 1] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: path))
        let result = try run("curl", ["-s", "-o", scratch.path("got"), "-w", "%{http_code}", "\(server.url)/v2/lay/blobs/\(layer)"])
        // The status went out before the end was read; the body is cut short, so curl fails.
        #expect(result.status != 0)
        let got = FileManager.default.contents(atPath: scratch.path("got")) ?? Data()
        #expect(got.count < bytes.count)
    }

    @Test func uploadsMonolithicChunkedMountedAndCancelled() throws {
        let scratch = try Scratch()
        let (server, layout) = try servedLayout(scratch)
        let (_, _, layer) = try manifestOf(layout)
        let one = Data((0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let two = Data((0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 13) })

        // Monolithic: POST ?digest= with the body.
        let mono = try http("POST", "\(server.url)/v2/app/blobs/uploads/?digest=\(sha256(one))", body: one)
        #expect(mono.status == 201 && mono.headers["location"] == "/v2/app/blobs/\(sha256(one))" && mono.headers["docker-content-digest"] == sha256(one))
        #expect(try http("GET", "\(server.url)/v2/app/blobs/\(sha256(one))").body == one)

        // A session: POST, PATCH in order, a PATCH out of order (416), status, PUT with the last chunk.
        let started = try http("POST", "\(server.url)/v2/app/blobs/uploads/")
        #expect(started.status == 202 && started.headers["docker-upload-uuid"] != nil && started.headers["range"] == "0-0")
        let location = try #require(started.headers["location"])
        let first = try http("PATCH", server.url + location, headers: ["Content-Range": "0-29999"], body: two.prefix(30_000))
        #expect(first.status == 202 && first.headers["range"] == "0-29999")
        let outOfOrder = try http("PATCH", server.url + location, headers: ["Content-Range": "40000-49999"], body: two.suffix(10_000))
        #expect(outOfOrder.status == 416 && outOfOrder.headers["range"] == "0-29999")
        let status = try http("GET", server.url + location)
        #expect(status.status == 204 && status.headers["range"] == "0-29999")
        #expect(try http("HEAD", "\(server.url)/v2/app/blobs/\(sha256(two))").status == 404)
        let done = try http("PUT", server.url + location + "?digest=\(sha256(two))", body: two.suffix(20_000))
        #expect(done.status == 201 && done.headers["docker-content-digest"] == sha256(two))
        #expect(try http("GET", "\(server.url)/v2/app/blobs/\(sha256(two))").body == two)
        #expect(try http("GET", server.url + location).errorCode == "BLOB_UPLOAD_UNKNOWN")

        // A wrong digest: refused, nothing visible.
        let wrong = try http("POST", "\(server.url)/v2/app/blobs/uploads/")
        let wrongPut = try http("PUT", server.url + wrong.headers["location"]! + "?digest=\(sha256(one + one))", body: two)
        #expect(wrongPut.status == 400 && wrongPut.errorCode == "DIGEST_INVALID")
        #expect(try http("HEAD", "\(server.url)/v2/app/blobs/\(sha256(one + one))").status == 404)

        // Cancelled: DELETE, then the session is gone.
        let cancelled = try http("POST", "\(server.url)/v2/app/blobs/uploads/")
        _ = try http("PATCH", server.url + cancelled.headers["location"]!, body: one)
        #expect(try http("DELETE", server.url + cancelled.headers["location"]!).status == 204)
        #expect(try http("GET", server.url + cancelled.headers["location"]!).status == 404)

        // Mount: 201 for a blob the location has, 202 and a session for one it has not.
        let mounted = try http("POST", "\(server.url)/v2/other/blobs/uploads/?mount=\(layer)&from=lay")
        #expect(mounted.status == 201 && mounted.headers["location"] == "/v2/other/blobs/\(layer)")
        let absent = try http("POST", "\(server.url)/v2/other/blobs/uploads/?mount=\(sha256(Data("none".utf8)))&from=lay")
        #expect(absent.status == 202 && absent.headers["location"]?.hasPrefix("/v2/other/blobs/uploads/") == true)

        // Nothing of the sessions is left once the server stops; the layout verifies.
        #expect(server.stop().status == 0)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: layout).filter { $0.hasPrefix(".ferry-") }
        #expect(leftovers.isEmpty)
        #expect(try ferry("verify", "oci:\(layout)").status == 0)
    }

    @Test func abandonedUploadsExpireAndBodiesHaveLimits() throws {
        let scratch = try Scratch()
        let (server, layout) = try servedLayout(scratch, extra: ["--upload-expiry", "1s"])
        let started = try http("POST", "\(server.url)/v2/app/blobs/uploads/")
        _ = try http("PATCH", server.url + started.headers["location"]!, body: Data(repeating: 3, count: 10_000))
        #expect(try FileManager.default.contentsOfDirectory(atPath: layout).contains { $0.hasPrefix(".ferry-") })
        var gone = false
        for _ in 0..<50 where !gone {
            usleep(200_000)
            gone = try http("GET", server.url + started.headers["location"]!).status == 404
        }
        #expect(gone)
        #expect(try FileManager.default.contentsOfDirectory(atPath: layout).allSatisfy { !$0.hasPrefix(".ferry-") })
        // A manifest over 4 MiB is refused before it is parsed.
        let huge = Data(repeating: 0x20, count: (4 << 20) + 1)
        let refused = try http("PUT", "\(server.url)/v2/app/manifests/big", headers: ["Content-Type": "application/vnd.oci.image.manifest.v1+json"], body: huge)
        #expect(refused.status == 413 && refused.errorCode == "SIZE_INVALID")
    }

    @Test func manifestsArePushedOnlyWhenWhatTheyNameIsThere() throws {
        let scratch = try Scratch()
        let (server, layout) = try servedLayout(scratch)
        let (_, bytes, _) = try manifestOf(layout)
        let type = "application/vnd.oci.image.manifest.v1+json"
        // The fixture's manifest, pushed under another repository and tag: its blobs are there.
        let pushed = try http("PUT", "\(server.url)/v2/team/app/manifests/v2", headers: ["Content-Type": type], body: bytes)
        #expect(pushed.status == 201 && pushed.headers["docker-content-digest"] == sha256(bytes))
        #expect(pushed.headers["location"] == "/v2/team/app/manifests/\(sha256(bytes))")
        #expect(try http("GET", "\(server.url)/v2/team/app/manifests/v2").body == bytes)
        // The layout keeps the repository (`team/app:v2`) apart from its own bare tags.
        let index = try String(contentsOfFile: layout + "/index.json", encoding: .utf8)
        #expect(index.contains("\"team/app:v2\"") && index.contains("\"v1\""))
        #expect(Set(try http("GET", "\(server.url)/v2/_catalog").json?["repositories"] as? [String] ?? []) == ["lay", "team/app"])

        // A manifest naming a blob that is not there.
        let orphan = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:\#(String(repeating: "2", count: 64))","size":2},"layers":[]}"#
        let refused = try http("PUT", "\(server.url)/v2/app/manifests/x", headers: ["Content-Type": type], body: Data(orphan.utf8))
        #expect(refused.status == 400 && refused.errorCode == "MANIFEST_BLOB_UNKNOWN")
        #expect(try http("GET", "\(server.url)/v2/app/manifests/x").status == 404)
        // Not JSON, and a digest that is not the body's.
        #expect(try http("PUT", "\(server.url)/v2/app/manifests/y", headers: ["Content-Type": type], body: Data("nope".utf8)).errorCode == "MANIFEST_INVALID")
        let mismatch = try http("PUT", "\(server.url)/v2/app/manifests/sha256:\(String(repeating: "3", count: 64))", headers: ["Content-Type": type], body: bytes)
        #expect(mismatch.status == 400 && mismatch.errorCode == "DIGEST_INVALID")
        #expect(try ferry("verify", "oci:\(layout)").status == 0)
    }

    @Test func listsPageWithNAndLast() throws {
        let scratch = try Scratch()
        let layout = scratch.path("many")
        #expect(try run("python3", [Paths.genLayout, layout, "--size-mib", "0.01", "--layers", "1", "--tags", "5", "--tag", "app:t"]).status == 0)
        let server = try Served(["oci:\(layout)"])
        let all = try http("GET", "\(server.url)/v2/app/tags/list").json?["tags"] as? [String] ?? []
        #expect(all.count == 5 && all == all.sorted())
        let first = try http("GET", "\(server.url)/v2/app/tags/list?n=2")
        #expect(first.json?["tags"] as? [String] == Array(all.prefix(2)))
        #expect(first.headers["link"] == "</v2/app/tags/list?n=2&last=\(all[1])>; rel=\"next\"")
        let second = try http("GET", "\(server.url)/v2/app/tags/list?n=2&last=\(all[1])")
        #expect(second.json?["tags"] as? [String] == Array(all[2..<4]))
        let last = try http("GET", "\(server.url)/v2/app/tags/list?n=2&last=\(all[3])")
        #expect(last.json?["tags"] as? [String] == [all[4]] && last.headers["link"] == nil)
        #expect(try http("GET", "\(server.url)/v2/app/tags/list?n=0").json?["tags"] as? [String] == [])
        let catalog = try http("GET", "\(server.url)/v2/_catalog?n=1")
        #expect(catalog.json?["repositories"] as? [String] == ["app"])
    }

    @Test func referrersAreListedAndFilteredByArtifactType() throws {
        let scratch = try Scratch()
        let (server, layout) = try servedLayout(scratch)
        let (digest, bytes, _) = try manifestOf(layout)
        let empty = Data("{}".utf8)
        _ = try http("POST", "\(server.url)/v2/lay/blobs/uploads/?digest=\(sha256(empty))", body: empty)
        func referrer(_ type: String) -> Data {
            Data(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"\#(type)","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"\#(sha256(empty))","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(digest)","size":\#(bytes.count)}}"#.utf8)
        }
        let signature = referrer("application/vnd.example.signature"), sbom = referrer("application/vnd.example.sbom")
        for body in [signature, sbom] {
            let pushed = try http("PUT", "\(server.url)/v2/lay/manifests/\(sha256(body))", headers: ["Content-Type": "application/vnd.oci.image.manifest.v1+json"], body: body)
            #expect(pushed.status == 201 && pushed.headers["oci-subject"] == digest)
        }
        let listed = try http("GET", "\(server.url)/v2/lay/referrers/\(digest)")
        #expect(listed.status == 200 && listed.headers["content-type"] == "application/vnd.oci.image.index.v1+json")
        let found = (listed.json?["manifests"] as? [[String: Any]] ?? []).compactMap { $0["digest"] as? String }
        #expect(Set(found) == [sha256(signature), sha256(sbom)])
        let filtered = try http("GET", "\(server.url)/v2/lay/referrers/\(digest)?artifactType=application/vnd.example.sbom")
        #expect(filtered.headers["oci-filters-applied"] == "artifactType")
        #expect((filtered.json?["manifests"] as? [[String: Any]])?.map { $0["artifactType"] as? String } == ["application/vnd.example.sbom"])
        let none = try http("GET", "\(server.url)/v2/lay/referrers/sha256:\(String(repeating: "4", count: 64))")
        #expect(none.status == 200 && (none.json?["manifests"] as? [Any])?.isEmpty == true)
    }

    @Test func deletesWhereTheLocationAllowsAndUnsupportedWhereNot() throws {
        let scratch = try Scratch()
        let (server, layout) = try servedLayout(scratch)
        let (digest, bytes, layer) = try manifestOf(layout)
        _ = try http("PUT", "\(server.url)/v2/lay/manifests/v2", headers: ["Content-Type": "application/vnd.oci.image.manifest.v1+json"], body: bytes)
        #expect(try http("DELETE", "\(server.url)/v2/lay/manifests/v2").status == 202)
        #expect(try http("GET", "\(server.url)/v2/lay/tags/list").json?["tags"] as? [String] == ["v1"])
        #expect(try http("DELETE", "\(server.url)/v2/lay/manifests/\(digest)").status == 202)
        #expect(try http("GET", "\(server.url)/v2/lay/manifests/v1").status == 404)
        #expect(try http("DELETE", "\(server.url)/v2/lay/blobs/\(layer)").status == 202)
        #expect(try http("HEAD", "\(server.url)/v2/lay/blobs/\(layer)").status == 404)
        #expect(try http("DELETE", "\(server.url)/v2/lay/blobs/\(layer)").errorCode == "BLOB_UNKNOWN")

        // An archive is read-only: reads work (blobs from the file in place), writes are UNSUPPORTED.
        let archive = scratch.path("app.tar")
        #expect(try ferry("copy", "--progress", "none", "oci:\(Paths.fixture("skopeo-layout")):v1", "oci-archive:\(archive):v1").status == 0)
        let served = try Served(["oci-archive:\(archive)"])
        #expect(try http("GET", "\(served.url)/v2/app/manifests/v1").body == bytes)
        #expect(try http("GET", "\(served.url)/v2/app/blobs/\(layer)").status == 200)
        for (method, path) in [("DELETE", "/v2/app/manifests/v1"), ("POST", "/v2/app/blobs/uploads/"), ("PUT", "/v2/app/manifests/v2"), ("DELETE", "/v2/app/blobs/\(layer)")] {
            let answer = try http(method, served.url + path)
            #expect(answer.status == 405 && answer.errorCode == "UNSUPPORTED", "\(method) \(path)")
        }
        // --read-only on a writable layout.
        let readOnly = try Served(["oci:\(Paths.fixture("skopeo-layout"))", "--read-only"])
        #expect(try http("DELETE", "\(readOnly.url)/v2/skopeo-layout/manifests/v1").errorCode == "UNSUPPORTED")
    }
}
