import Foundation
import OCI
import Testing

/// `ferry serve` access control: htpasswd (bcrypt), Epoch's bearer token, TLS (issue 15).
@Suite struct ServeAccessTests {
    func layoutCopy(_ scratch: Scratch) throws -> String {
        let layout = scratch.path("lay")
        try FileManager.default.copyItem(atPath: Paths.fixture("skopeo-layout"), toPath: layout)
        return layout
    }

    @Test(.enabled(if: have("htpasswd"))) func htpasswdUsersGetInAndOthersGetAChallenge() throws {
        let scratch = try Scratch()
        let layout = try layoutCopy(scratch)
        let file = scratch.path("htpasswd")
        #expect(try run("htpasswd", ["-Bbc", file, "alice", "s3cret-pass"]).status == 0)
        let server = try Served(["oci:\(layout)", "--htpasswd", file])
        for headers in [[:], ["Authorization": "Basic " + Data("alice:wrong".utf8).base64EncodedString()], ["Authorization": "Bearer s3cret-pass"]] {
            let refused = try http("GET", "\(server.url)/v2/lay/manifests/v1", headers: headers)
            #expect(refused.status == 401 && refused.errorCode == "UNAUTHORIZED")
            #expect(refused.headers["www-authenticate"] == #"Basic realm="ferry""#)
        }
        let good = ["Authorization": "Basic " + Data("alice:s3cret-pass".utf8).base64EncodedString()]
        #expect(try http("GET", "\(server.url)/v2/", headers: good).status == 200)
        #expect(try http("GET", "\(server.url)/v2/lay/manifests/v1", headers: good).status == 200)
        // Real clients with the user's credentials, both ways.
        let pulled = try ferry("copy", "--progress", "none", "--tls-verify=false", "--creds", "alice:s3cret-pass", "docker://\(server.address)/lay:v1", "oci:\(scratch.path("out")):v1")
        #expect(pulled.status == 0, "\(pulled.stderr)")
        let refused = try ferry("copy", "--progress", "none", "--tls-verify=false", "--creds", "alice:nope", "docker://\(server.address)/lay:v1", "oci:\(scratch.path("out2")):v1")
        #expect(refused.status == 1 && !refused.stderr.contains("nope"))
        if have("skopeo") {
            let pushed = try run("skopeo", ["copy", "--dest-tls-verify=false", "--dest-creds", "alice:s3cret-pass",
                                            "oci:\(Paths.fixture("multiarch-layout")):latest", "docker://\(server.address)/multi:v1"])
            #expect(pushed.status == 0, "\(pushed.stderr)")
        }
        let log = server.stop().stderr
        #expect(!log.contains("s3cret-pass") && !log.contains(Data("alice:s3cret-pass".utf8).base64EncodedString()))
        #expect(try ferry("verify", "oci:\(layout)").status == 0)
    }

    @Test func epochsRuleReadsAnonymousWritesNeedTheToken() throws {
        let scratch = try Scratch()
        let bucket = scratch.path("bucket")
        try FileManager.default.createDirectory(atPath: bucket, withIntermediateDirectories: false)
        #expect(try ferry("copy", "--progress", "none", "oci:\(Paths.fixture("skopeo-layout")):v1", "epoch:\(bucket)#app:v1").status == 0)
        let server = try Served(["epoch:\(bucket)", "--auth", "epoch"], environment: ["EPOCH_REGISTRY_TOKEN=tok-123456"])
        #expect(try http("GET", "\(server.url)/v2/app/manifests/v1").status == 200)
        let base = try http("GET", "\(server.url)/v2/")
        #expect(base.status == 401 && base.headers["www-authenticate"] == #"Bearer realm="\#(server.url)/v2/token",service="epoch""#)
        let write = try http("DELETE", "\(server.url)/v2/app/manifests/v1")
        #expect(write.status == 401 && write.errorCode == "UNAUTHORIZED")
        #expect(try http("DELETE", "\(server.url)/v2/app/manifests/v1", headers: ["Authorization": "Bearer wrong"]).status == 401)
        // The token endpoint hands back the password it is given, as Epoch's does.
        let token = try http("GET", "\(server.url)/v2/token", headers: ["Authorization": "Basic " + Data("x:tok-123456".utf8).base64EncodedString()])
        #expect(token.json?["token"] as? String == "tok-123456" && token.json?["expires_in"] as? Int == 3600)
        #expect(try http("GET", "\(server.url)/v2/token").json?["token"] as? String == "")
        // ferry's client pushes with the token.
        let pushed = try ferryIn(["EPOCH_REGISTRY_TOKEN=tok-123456"], ["copy", "--progress", "none", "--tls-verify=false",
                                                                        "oci:\(Paths.fixture("multiarch-layout")):latest", "docker://\(server.address)/multi:v1"])
        #expect(pushed.status == 0, "\(pushed.stderr)")
        let anonymous = try ferry("copy", "--progress", "none", "--tls-verify=false", "oci:\(Paths.fixture("multiarch-layout")):latest", "docker://\(server.address)/multi:v2")
        #expect(anonymous.status == 1)
        #expect(!server.stop().stderr.contains("tok-123456"))
        #expect(try ferry("verify", "epoch:\(bucket)").status == 0)
        #expect(try ferry("serve", "epoch:\(bucket)", "--auth", "epoch").status == 2)
    }

    @Test func tlsWithAGivenCertificate() throws {
        let scratch = try Scratch()
        let layout = try layoutCopy(scratch)
        let tls = scratch.path("tls")
        #expect(try run("bash", [Paths.packageRoot.appendingPathComponent("scripts/test-ca.sh").path, tls]).status == 0)
        let server = try Served(["oci:\(layout)", "--tls-cert", tls + "/server.pem", "--tls-key", tls + "/server.key"])
        #expect(server.url.hasPrefix("https://"))
        let secure = try run("curl", ["-s", "--cacert", tls + "/ca.pem", "-o", "/dev/null", "-w", "%{http_code}", "\(server.url)/v2/lay/manifests/v1"])
        #expect(secure.stdout == "200")
        #expect(try run("curl", ["-s", "-o", "/dev/null", "\(server.url)/v2/"]).status != 0)
        // Over TLS a blob is read and encrypted in the process: whole, and never sent with sendfile.
        let blobs = try FileManager.default.contentsOfDirectory(atPath: layout + "/blobs/sha256")
        for blob in blobs {
            let url = "\(server.url)/v2/lay/blobs/sha256:\(blob)"
            let got = try run("curl", ["-s", "--cacert", tls + "/ca.pem", "-o", scratch.path("got1"), "-o", scratch.path("got2"), url, url])
            #expect(got.status == 0)
            let expected = FileManager.default.contents(atPath: layout + "/blobs/sha256/" + blob)
            #expect(FileManager.default.contents(atPath: scratch.path("got1")) == expected && FileManager.default.contents(atPath: scratch.path("got2")) == expected)
        }
        let metrics = try run("curl", ["-s", "--cacert", tls + "/ca.pem", "\(server.url)/metrics"])
        #expect(metrics.stdout.contains("ferry_sendfile_bytes_total 0"))
        let pulled = try ferryIn(["EPOCH_CA_CERT=\(tls)/ca.pem"], ["copy", "--progress", "none", "docker://\(server.address)/lay:v1", "oci:\(scratch.path("out")):v1"])
        #expect(pulled.status == 0, "\(pulled.stderr)")
        #expect(try ferry("serve", "oci:\(layout)", "--tls-cert", tls + "/server.pem").status == 2)
    }
}
