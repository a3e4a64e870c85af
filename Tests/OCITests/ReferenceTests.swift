import Testing

import OCI

private let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
private let digest = try! Digest(parsing: "sha256:\(hex)")

@Suite("Reference parsing")
struct ReferenceTests {
    // MARK: oci: and oci-archive:

    @Test func layoutWithoutSelector() throws {
        #expect(try Reference(parsing: "oci:DIR") == .layout(path: "DIR", selector: nil))
        #expect(try Reference(parsing: "oci:/srv/layouts/app") == .layout(path: "/srv/layouts/app", selector: nil))
        #expect(try Reference(parsing: "oci:./rel dir") == .layout(path: "./rel dir", selector: nil))
    }

    @Test func layoutWithTag() throws {
        let ref = try Reference(parsing: "oci:DIR:v1")
        #expect(ref == .layout(path: "DIR", selector: .tag("v1")))
        #expect(ref.selector == .tag("v1"))
        #expect(ref.repository == "")
    }

    @Test func layoutWithFullReferenceTag() throws {
        let ref = try Reference(parsing: "oci:DIR:example.com/app:v1")
        #expect(ref == .layout(path: "DIR", selector: .tag("example.com/app:v1")))
        #expect(ref.repository == "example.com/app")

        let withPort = try Reference(parsing: "oci:/tmp/l:example.com:5000/team/app:v1.2")
        #expect(withPort == .layout(path: "/tmp/l", selector: .tag("example.com:5000/team/app:v1.2")))
        #expect(withPort.repository == "example.com:5000/team/app")
    }

    @Test func layoutWithDigest() throws {
        let ref = try Reference(parsing: "oci:DIR@sha256:\(hex)")
        #expect(ref == .layout(path: "DIR", selector: .digest(digest)))
        #expect(ref.selector?.description == "sha256:\(hex)")
        #expect(try Reference(parsing: "oci:/a/b@sha256:\(hex)") == .layout(path: "/a/b", selector: .digest(digest)))
    }

    @Test func layoutArchive() throws {
        #expect(try Reference(parsing: "oci-archive:F.tar:v1") == .layoutArchive(path: "F.tar", selector: .tag("v1")))
        #expect(try Reference(parsing: "oci-archive:F.tar") == .layoutArchive(path: "F.tar", selector: nil))
        #expect(try Reference(parsing: "oci-archive:/x/F.tar.gz@sha256:\(hex)")
            == .layoutArchive(path: "/x/F.tar.gz", selector: .digest(digest)))
    }

    // MARK: epoch:

    @Test func epochConfiguredBucket() throws {
        let ref = try Reference(parsing: "epoch:name:tag")
        #expect(ref == .epoch(bucket: .configured, name: "name", selector: .tag("tag")))
        #expect(ref.repository == "name")
        #expect(try Reference(parsing: "epoch:team/app") == .epoch(bucket: .configured, name: "team/app", selector: nil))
        #expect(try Reference(parsing: "epoch:app@sha256:\(hex)")
            == .epoch(bucket: .configured, name: "app", selector: .digest(digest)))
    }

    @Test func epochDirectoryBucket() throws {
        #expect(try Reference(parsing: "epoch:/dir#team/app:v1")
            == .epoch(bucket: .directory("/dir"), name: "team/app", selector: .tag("v1")))
        #expect(try Reference(parsing: "epoch:relative/dir#app")
            == .epoch(bucket: .directory("relative/dir"), name: "app", selector: nil))
    }

    @Test func epochS3Bucket() throws {
        #expect(try Reference(parsing: "epoch:s3://bucket/pre#app@sha256:\(hex)")
            == .epoch(bucket: .s3(bucket: "bucket", prefix: "pre/"), name: "app", selector: .digest(digest)))
        #expect(try Reference(parsing: "epoch:s3://bucket/pre/#app:v1")
            == .epoch(bucket: .s3(bucket: "bucket", prefix: "pre/"), name: "app", selector: .tag("v1")))
        #expect(try Reference(parsing: "epoch:s3://bucket/a/b#app:v1")
            == .epoch(bucket: .s3(bucket: "bucket", prefix: "a/b/"), name: "app", selector: .tag("v1")))
        #expect(try Reference(parsing: "epoch:s3://bucket#app:v1")
            == .epoch(bucket: .s3(bucket: "bucket", prefix: nil), name: "app", selector: .tag("v1")))
        #expect(try Reference(parsing: "epoch:s3://bucket/#app")
            == .epoch(bucket: .s3(bucket: "bucket", prefix: nil), name: "app", selector: nil))
    }

    @Test func epochEmptyLocationIsConfigured() throws {
        #expect(try Reference(parsing: "epoch:#app:v1") == .epoch(bucket: .configured, name: "app", selector: .tag("v1")))
    }

    // MARK: cocoon:, cocoon-archive:, disk:

    @Test func cocoon() throws {
        let ref = try Reference(parsing: "cocoon:snap")
        #expect(ref == .cocoon(root: nil, name: "snap"))
        #expect(ref.repository == "snap")
        #expect(ref.selector == nil)
        #expect(try Reference(parsing: "cocoon:/root#snap") == .cocoon(root: "/root", name: "snap"))
        #expect(try Reference(parsing: "cocoon:/var/lib/cocoon#my-snap.1") == .cocoon(root: "/var/lib/cocoon", name: "my-snap.1"))
    }

    @Test func cocoonArchiveAndDisk() throws {
        #expect(try Reference(parsing: "cocoon-archive:f.tar") == .cocoonArchive(path: "f.tar"))
        #expect(try Reference(parsing: "cocoon-archive:/x/f.tar.gz") == .cocoonArchive(path: "/x/f.tar.gz"))
        let disk = try Reference(parsing: "disk:f.qcow2")
        #expect(disk == .disk(path: "f.qcow2"))
        #expect(disk.repository == "")
        #expect(disk.selector == nil)
    }

    // MARK: docker://

    @Test func registryWithPortAndTag() throws {
        let ref = try Reference(parsing: "docker://localhost:5000/a/b:v1")
        #expect(ref == .registry(host: "localhost:5000", name: "a/b", selector: .tag("v1")))
        #expect(ref.repository == "a/b")
        #expect(ref.selector == .tag("v1"))
    }

    @Test func registryWithDigest() throws {
        #expect(try Reference(parsing: "docker://host.example/a@sha256:\(hex)")
            == .registry(host: "host.example", name: "a", selector: .digest(digest)))
        // A tag before the digest is read and dropped: the digest pins the manifest.
        #expect(try Reference(parsing: "docker://host.example/a:v1@sha256:\(hex)")
            == .registry(host: "host.example", name: "a", selector: .digest(digest)))
        #expect(try Reference(parsing: "docker://ghcr.io/cocoonstack/windows/win11:25h2")
            == .registry(host: "ghcr.io", name: "cocoonstack/windows/win11", selector: .tag("25h2")))
        #expect(try Reference(parsing: "docker://localhost/app") == .registry(host: "localhost", name: "app", selector: nil))
    }

    /// A first component without `.` or `:` (and not `localhost`) is a Docker Hub name.
    @Test func dockerHubNames() throws {
        #expect(try Reference(parsing: "docker://alpine") == .registry(host: "docker.io", name: "library/alpine", selector: nil))
        #expect(try Reference(parsing: "docker://alpine:3.20") == .registry(host: "docker.io", name: "library/alpine", selector: .tag("3.20")))
        #expect(try Reference(parsing: "docker://bitnami/redis:7") == .registry(host: "docker.io", name: "bitnami/redis", selector: .tag("7")))
        #expect(try Reference(parsing: "docker://docker.io/alpine") == .registry(host: "docker.io", name: "library/alpine", selector: nil))
        #expect(try Reference(parsing: "docker://host/app") == .registry(host: "docker.io", name: "host/app", selector: nil))
    }

    // MARK: malformed

    @Test(arguments: [
        // no transport
        "DIR", "/srv/layout", "", "app",
        // unknown transport
        "ftp:x", "OCI:DIR", "docker-archive:f.tar", "registry://host/app",
        // bad tag characters
        "oci:DIR:v!1", "oci:DIR:-v1", "oci:DIR:.v1", "epoch:app:v!1", "epoch:app:", "docker://host/app:-v",
        "docker://host/app:v/1", "epoch:app:" + String(repeating: "a", count: 129),
        // uppercase repository names
        "epoch:App:v1", "epoch:/dir#Team/app", "docker://host/App:v1", "docker://host/a/B",
        // other bad names
        "epoch:a_:v1", "epoch:a//b", "docker://host/a/", "docker://host/_a",
        // docker:// with no name
        "docker://host.example", "docker://localhost:5000", "docker://host/", "docker:host/app", "docker://",
        "docker://:5000/app", "docker://host:99999/app", "docker://ho_st.example/app",
        // bad digests after @
        "docker://host/a@sha256:abc", "docker://host/a@md5:\(hex)", "docker://host/a@sha256:\(hex.uppercased())",
        "epoch:app@sha256:short", "epoch:app@", "oci:DIR:sha256:\(hex)",
        // empty paths and names
        "oci:", "oci-archive:", "disk:", "cocoon-archive:", "cocoon:", "cocoon:/root#", "cocoon:#snap",
        "epoch:", "epoch:/dir#", "oci::v1", "oci:@sha256:\(hex)", "epoch:s3://#app", "epoch:http://x#app",
        // cocoon names cannot be paths
        "cocoon:a/b",
    ])
    func rejectsMalformed(input: String) {
        let error = #expect(throws: ValidationError.self) { try Reference(parsing: input) }
        #expect(error?.input == input)
    }

    @Test(arguments: ["oci:DIR@sha256:abc", "oci-archive:F.tar@sha256:\(hex.dropLast())"])
    func layoutRejectsBadDigestAfterAt(input: String) {
        #expect(throws: ValidationError.self) { try Reference(parsing: input) }
    }

    @Test func unknownTransportMessageListsForms() {
        let error = #expect(throws: ValidationError.self) { try Reference(parsing: "ftp:x") }
        #expect(error?.problem.contains("unknown transport 'ftp'") == true)
        #expect(error?.problem.contains("docker://HOST[:PORT]/NAME[:TAG|@DIGEST]") == true)
    }

    @Test func selectorDescription() {
        #expect(ManifestSelector.tag("v1").description == "v1")
        #expect(ManifestSelector.digest(digest).description == "sha256:\(hex)")
    }
}

@Suite("Location parsing")
struct LocationTests {
    @Test func layouts() throws {
        #expect(try Location(parsing: "oci:DIR") == .layout(path: "DIR"))
        #expect(try Location(parsing: "oci:/srv/layout") == .layout(path: "/srv/layout"))
        #expect(try Location(parsing: "oci-archive:F.tar") == .layoutArchive(path: "F.tar"))
    }

    @Test func epochBuckets() throws {
        #expect(try Location(parsing: "epoch:") == .epoch(.configured))
        #expect(try Location(parsing: "epoch:/dir") == .epoch(.directory("/dir")))
        #expect(try Location(parsing: "epoch:rel/dir") == .epoch(.directory("rel/dir")))
        #expect(try Location(parsing: "epoch:s3://bucket") == .epoch(.s3(bucket: "bucket", prefix: nil)))
        #expect(try Location(parsing: "epoch:s3://bucket/") == .epoch(.s3(bucket: "bucket", prefix: nil)))
        #expect(try Location(parsing: "epoch:s3://bucket/pre") == .epoch(.s3(bucket: "bucket", prefix: "pre/")))
        #expect(try Location(parsing: "epoch:s3://bucket/pre/") == .epoch(.s3(bucket: "bucket", prefix: "pre/")))
    }

    @Test func cocoonRoots() throws {
        #expect(try Location(parsing: "cocoon:") == .cocoon(root: nil))
        #expect(try Location(parsing: "cocoon:/var/lib/cocoon") == .cocoon(root: "/var/lib/cocoon"))
        // An export tarball is a place too: `ferry ls` and `ferry sync` read it.
        #expect(try Location(parsing: "cocoon-archive:f.tar") == .cocoonArchive(path: "f.tar"))
    }

    @Test func registries() throws {
        #expect(try Location(parsing: "docker://localhost:5000") == .registry(host: "localhost:5000", prefix: ""))
        #expect(try Location(parsing: "docker://ghcr.io") == .registry(host: "ghcr.io", prefix: ""))
        #expect(try Location(parsing: "docker://ghcr.io/team/mirror/") == .registry(host: "ghcr.io", prefix: "team/mirror"))
    }

    @Test(arguments: [
        "DIR", "", "oci:", "oci-archive:", "docker://", "docker:host", "docker://host/App", "docker://host:",
        "epoch:s3://", "epoch:http://x", "ftp:x", "disk:f.qcow2", "cocoon-archive:",
    ])
    func rejectsMalformed(input: String) {
        let error = #expect(throws: ValidationError.self) { try Location(parsing: input) }
        #expect(error?.input == input)
    }
}
