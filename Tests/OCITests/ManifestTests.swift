import Foundation
import Testing

import OCI

private let configDigest = Digest.compute(Array("config".utf8))
private let layerDigest = Digest.compute(Array("layer".utf8))
private let childDigest = Digest.compute(Array("child".utf8))

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

@Suite("Manifest")
struct ManifestTests {
    static let imageJSON = """
        {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
         "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(configDigest)","size":6},
         "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"\(layerDigest)","size":5,
                    "annotations":{"org.opencontainers.image.title":"layer.tar.gz"}}],
         "annotations":{"k":"v"}}
        """

    @Test func keepsExactBytes() throws {
        // Odd whitespace, unusual key order and a trailing newline: re-serialising would change the digest.
        let text = "\n{  \"layers\" : [ ],\t\"config\":{\"size\":6 , \"digest\":\"\(configDigest)\",\"mediaType\":\"\(MediaType.imageConfig)\"},\r\n  \"schemaVersion\"  :  2 }\n\n"
        let input = bytes(text)
        let manifest = try Manifest(bytes: input)
        #expect(manifest.bytes == input)
        #expect(manifest.digest == Digest.compute(input))
        #expect(manifest.descriptor.digest == Digest.compute(input))
        #expect(manifest.descriptor.size == Int64(input.count))
        #expect(manifest.mediaType == MediaType.imageManifest)
        #expect(!manifest.isIndex)
        #expect(manifest.kind == .containerImage)
    }

    @Test func digestAlgorithmIsHonoured() throws {
        let input = bytes(Self.imageJSON)
        let manifest = try Manifest(bytes: input, digestAlgorithm: .sha512)
        #expect(manifest.digest == Digest.compute(input, algorithm: .sha512))
        #expect(manifest.digest.algorithm == .sha512)
    }

    @Test func parsesImageManifest() throws {
        let manifest = try Manifest(bytes: bytes(Self.imageJSON))
        #expect(!manifest.isIndex)
        #expect(manifest.mediaType == MediaType.imageManifest)
        #expect(manifest.kind == .containerImage)
        #expect(manifest.manifests.isEmpty)
        #expect(manifest.blobs.map(\.digest) == [configDigest, layerDigest])
        #expect(manifest.blobs.map(\.size) == [6, 5])
        #expect(manifest.blobs[1].title == "layer.tar.gz")
        #expect(!manifest.blobs[1].isManifest)
        guard case .image(let image) = manifest.content else {
            Issue.record("expected an image manifest")
            return
        }
        #expect(image.schemaVersion == 2)
        #expect(image.config.mediaType == MediaType.imageConfig)
        #expect(image.layers.count == 1)
        #expect(image.annotations == ["k": "v"])
        #expect(image.subject == nil)
    }

    @Test func imageManifestWithoutLayersKey() throws {
        let manifest = try Manifest(bytes: bytes("""
            {"schemaVersion":2,"config":{"mediaType":"\(MediaType.emptyJSON)","digest":"\(configDigest)","size":2}}
            """))
        #expect(!manifest.isIndex)
        #expect(manifest.blobs.count == 1)
        #expect(manifest.mediaType == MediaType.imageManifest)
        #expect(manifest.kind == .unknown)
    }

    @Test func parsesIndex() throws {
        let manifest = try Manifest(bytes: bytes("""
            {"schemaVersion":2,"mediaType":"\(MediaType.imageIndex)","manifests":[
              {"mediaType":"\(MediaType.imageManifest)","digest":"\(childDigest)","size":100,
               "platform":{"architecture":"arm64","os":"linux","variant":"v8","os.version":"6.1"}},
              {"mediaType":"\(MediaType.imageManifest)","digest":"\(layerDigest)","size":7,
               "annotations":{"org.opencontainers.image.ref.name":"v1"}}]}
            """))
        #expect(manifest.isIndex)
        #expect(manifest.mediaType == MediaType.imageIndex)
        #expect(manifest.kind == .imageIndex)
        #expect(manifest.blobs.isEmpty)
        #expect(manifest.manifests.map(\.digest) == [childDigest, layerDigest])
        #expect(manifest.manifests[0].isManifest)
        let platform = try #require(manifest.manifests[0].platform)
        var expected = Platform(os: "linux", architecture: "arm64", variant: "v8")
        expected.osVersion = "6.1"
        #expect(platform == expected)
        #expect(manifest.manifests[1].platform == nil)
        #expect(manifest.manifests[1].refName == "v1")
    }

    @Test func dockerManifestListIsAnIndex() throws {
        let manifest = try Manifest(bytes: bytes("""
            {"schemaVersion":2,"mediaType":"\(MediaType.dockerManifestList)","manifests":[]}
            """))
        #expect(manifest.isIndex)
        #expect(manifest.mediaType == MediaType.dockerManifestList)
        #expect(manifest.kind == .imageIndex)
    }

    @Test func indexWithoutMediaTypeIsInferredButUnknown() throws {
        let manifest = try Manifest(bytes: bytes("""
            {"schemaVersion":2,"manifests":[{"mediaType":"\(MediaType.imageManifest)","digest":"\(childDigest)","size":3}]}
            """))
        #expect(manifest.isIndex)
        #expect(manifest.mediaType == MediaType.imageIndex)
        #expect(manifest.kind == .unknown)
    }

    @Test func declaredTypeDecidesWhenTheDocumentHasNone() throws {
        let json = bytes(#"{"schemaVersion":2,"manifests":[]}"#)
        let asList = try Manifest(bytes: json, declaredType: MediaType.dockerManifestList)
        #expect(asList.isIndex)
        #expect(asList.mediaType == MediaType.dockerManifestList)
        // The document's own type wins over the declared one.
        let own = try Manifest(bytes: bytes(Self.imageJSON), declaredType: MediaType.imageIndex)
        #expect(!own.isIndex)
        #expect(own.mediaType == MediaType.imageManifest)
        // A declared Docker manifest type is used for a document without mediaType.
        let docker = try Manifest(
            bytes: bytes(#"{"schemaVersion":2,"config":{"mediaType":"\#(MediaType.dockerContainerConfig)","digest":"\#(configDigest)","size":1},"layers":[]}"#),
            declaredType: MediaType.dockerManifest)
        #expect(docker.mediaType == MediaType.dockerManifest)
        #expect(docker.kind == .containerImage)
    }

    @Test(arguments: [
        "", "not json", "{", "[]", "{\"schemaVersion\":2,", "null", "\u{FEFF}garbage",
    ])
    func rejectsInvalidJSON(text: String) {
        let error = #expect(throws: ValidationError.self) { try Manifest(bytes: bytes(text)) }
        #expect(error?.problem.contains("not valid JSON") == true)
    }

    @Test func rejectsSchemaVersion1() {
        let schema1 = """
            {"schemaVersion":1,"name":"library/app","tag":"v1","architecture":"amd64",
             "fsLayers":[{"blobSum":"\(layerDigest)"}],"history":[]}
            """
        let error = #expect(throws: ValidationError.self) { try Manifest(bytes: bytes(schema1)) }
        #expect(error?.problem.contains("schemaVersion 1") == true)

        let withConfig = """
            {"schemaVersion":1,"mediaType":"\(MediaType.imageManifest)",
             "config":{"mediaType":"\(MediaType.imageConfig)","digest":"\(configDigest)","size":6},"layers":[]}
            """
        #expect(throws: ValidationError.self) { try Manifest(bytes: bytes(withConfig)) }

        let missing = """
            {"config":{"mediaType":"\(MediaType.imageConfig)","digest":"\(configDigest)","size":6},"layers":[]}
            """
        #expect(throws: ValidationError.self) { try Manifest(bytes: bytes(missing)) }
    }

    @Test func rejectsIndexSchemaVersion1() {
        let index = #"{"schemaVersion":1,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#
        #expect(throws: ValidationError.self) { try Manifest(bytes: bytes(index)) }
    }

    @Test func rejectsStructurallyInvalidDocuments() {
        // Missing config.
        #expect(throws: ValidationError.self) {
            try Manifest(bytes: bytes(#"{"schemaVersion":2,"mediaType":"\#(MediaType.imageManifest)","layers":[]}"#))
        }
        // Bad digest inside a descriptor.
        #expect(throws: ValidationError.self) {
            try Manifest(bytes: bytes(#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:nope","size":1}}"#))
        }
        // Negative size.
        #expect(throws: ValidationError.self) {
            try Manifest(bytes: bytes(#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"\#(configDigest)","size":-1}}"#))
        }
        // An index whose manifests are not descriptors.
        #expect(throws: ValidationError.self) {
            try Manifest(bytes: bytes(#"{"schemaVersion":2,"mediaType":"\#(MediaType.imageIndex)","manifests":[1]}"#))
        }
        // An index type without a manifests array.
        #expect(throws: ValidationError.self) {
            try Manifest(bytes: bytes(#"{"schemaVersion":2,"mediaType":"\#(MediaType.imageIndex)"}"#))
        }
    }

    @Test func rejectsOversizedDocuments() {
        let huge = [UInt8](repeating: 0x20, count: Manifest.maximumSize + 1)
        let error = #expect(throws: ValidationError.self) { try Manifest(bytes: huge) }
        #expect(error?.problem.contains("50 MiB") == true)
    }

    @Test func descriptorCarriesArtifactType() throws {
        let manifest = try Manifest(bytes: bytes("""
            {"schemaVersion":2,"mediaType":"\(MediaType.imageManifest)","artifactType":"\(MediaType.cocoonSnapshot)",
             "config":{"mediaType":"\(MediaType.cocoonSnapshotConfig)","digest":"\(configDigest)","size":6},"layers":[]}
            """))
        #expect(manifest.artifactType == MediaType.cocoonSnapshot)
        #expect(manifest.descriptor.artifactType == MediaType.cocoonSnapshot)
        #expect(manifest.descriptor.mediaType == MediaType.imageManifest)
        #expect(manifest.kind == .snapshot)
    }

    @Test func descriptorDecodingDefaultsAndRoundTrip() throws {
        let decoded = try JSONDecoder().decode(
            Descriptor.self, from: Data(#"{"digest":"\#(configDigest)","size":6,"urls":["https://x"],"data":"YQ=="}"#.utf8))
        #expect(decoded.mediaType == "")
        #expect(decoded.urls == ["https://x"])
        #expect(decoded.data == "YQ==")
        let again = try JSONDecoder().decode(Descriptor.self, from: JSONEncoder().encode(decoded))
        #expect(again == decoded)

        var platform = Platform(os: "windows", architecture: "amd64")
        platform.osVersion = "10.0.26100"
        platform.osFeatures = ["win32k"]
        let original = Descriptor(
            mediaType: MediaType.imageManifest, digest: childDigest, size: 9, annotations: ["a": "b"], platform: platform,
            artifactType: MediaType.cocoonOSImage)
        let json = String(decoding: try JSONEncoder().encode(original), as: UTF8.self)
        #expect(json.contains("\"os.version\":\"10.0.26100\""))
        #expect(json.contains("\"os.features\":[\"win32k\"]"))
        #expect(try JSONDecoder().decode(Descriptor.self, from: Data(json.utf8)) == original)
    }
}

@Suite("Classification (FORMATS.md §4.1)")
struct ClassificationTests {
    private static func image(artifactType: String? = nil, mediaType: String? = MediaType.imageManifest, config: String) -> [UInt8] {
        var fields = ["\"schemaVersion\":2"]
        if let mediaType { fields.append("\"mediaType\":\"\(mediaType)\"") }
        if let artifactType { fields.append("\"artifactType\":\"\(artifactType)\"") }
        fields.append("\"config\":{\"mediaType\":\"\(config)\",\"digest\":\"\(configDigest)\",\"size\":2}")
        fields.append("\"layers\":[]")
        return Array("{\(fields.joined(separator: ","))}".utf8)
    }

    private static func index(artifactType: String? = nil, mediaType: String?) -> [UInt8] {
        var fields = ["\"schemaVersion\":2"]
        if let mediaType { fields.append("\"mediaType\":\"\(mediaType)\"") }
        if let artifactType { fields.append("\"artifactType\":\"\(artifactType)\"") }
        fields.append("\"manifests\":[]")
        return Array("{\(fields.joined(separator: ","))}".utf8)
    }

    @Test func cloudImages() throws {
        #expect(try Manifest(bytes: Self.image(artifactType: MediaType.cocoonOSImage, config: MediaType.emptyJSON)).kind == .cloudImage)
        #expect(try Manifest(bytes: Self.image(artifactType: MediaType.cocoonWindowsImage, config: MediaType.emptyJSON)).kind == .cloudImage)
        // Rule 1 wins over rule 2.
        #expect(try Manifest(bytes: Self.image(artifactType: MediaType.cocoonOSImage, config: MediaType.imageConfig)).kind == .cloudImage)
    }

    @Test func snapshots() throws {
        #expect(try Manifest(bytes: Self.image(artifactType: MediaType.cocoonSnapshot, config: MediaType.cocoonSnapshotConfig)).kind == .snapshot)
        #expect(try Manifest(bytes: Self.image(artifactType: MediaType.cocoonSnapshot, config: MediaType.imageConfig)).kind == .snapshot)
    }

    @Test func containerImages() throws {
        #expect(try Manifest(bytes: Self.image(config: MediaType.imageConfig)).kind == .containerImage)
        #expect(try Manifest(bytes: Self.image(mediaType: MediaType.dockerManifest, config: MediaType.dockerContainerConfig)).kind == .containerImage)
        #expect(try Manifest(bytes: Self.image(mediaType: nil, config: MediaType.imageConfig)).kind == .containerImage)
        // An unrelated artifactType does not stop rule 2.
        #expect(try Manifest(bytes: Self.image(artifactType: "application/x-other", config: MediaType.imageConfig)).kind == .containerImage)
    }

    @Test func indexes() throws {
        #expect(try Manifest(bytes: Self.index(mediaType: MediaType.imageIndex)).kind == .imageIndex)
        #expect(try Manifest(bytes: Self.index(mediaType: MediaType.dockerManifestList)).kind == .imageIndex)
        #expect(try Manifest(bytes: Self.index(artifactType: MediaType.cocoonOSImage, mediaType: MediaType.imageIndex)).kind == .cloudImage)
    }

    @Test func indexWithoutTopLevelMediaTypeIsUnknown() throws {
        let manifest = try Manifest(bytes: Self.index(mediaType: nil))
        #expect(manifest.isIndex)
        #expect(manifest.kind == .unknown)
        // Even when the store declared it as an index.
        let declared = try Manifest(bytes: Self.index(mediaType: nil), declaredType: MediaType.imageIndex)
        #expect(declared.isIndex)
        #expect(declared.kind == .unknown)
    }

    @Test func cocoonTypeOnlyInConfigIsUnknown() throws {
        for config in [MediaType.cocoonSnapshot, MediaType.cocoonOSImage, MediaType.cocoonWindowsImage, MediaType.cocoonSnapshotConfig] {
            #expect(try Manifest(bytes: Self.image(config: config)).kind == .unknown, "config \(config)")
        }
    }

    @Test func otherConfigsAreUnknown() throws {
        #expect(try Manifest(bytes: Self.image(config: MediaType.emptyJSON)).kind == .unknown)
        #expect(try Manifest(bytes: Self.image(mediaType: MediaType.dockerManifest, config: "application/x-custom")).kind == .unknown)
    }

    @Test func classifyTable() {
        let cases: [(String?, String?, String?, ArtifactKind)] = [
            (MediaType.cocoonOSImage, nil, nil, .cloudImage),
            (MediaType.cocoonWindowsImage, MediaType.imageIndex, MediaType.imageConfig, .cloudImage),
            (MediaType.cocoonSnapshot, MediaType.imageManifest, MediaType.dockerContainerConfig, .snapshot),
            (nil, MediaType.imageManifest, MediaType.imageConfig, .containerImage),
            (nil, nil, MediaType.dockerContainerConfig, .containerImage),
            (nil, MediaType.imageIndex, MediaType.imageConfig, .containerImage),
            (nil, MediaType.imageIndex, nil, .imageIndex),
            (nil, MediaType.dockerManifestList, nil, .imageIndex),
            (nil, nil, nil, .unknown),
            (nil, MediaType.imageManifest, nil, .unknown),
            (nil, nil, MediaType.cocoonSnapshot, .unknown),
            (MediaType.cocoonSnapshotConfig, nil, nil, .unknown),
            ("application/vnd.cocoonstack.os-image.v2+json", nil, nil, .unknown),
        ]
        for (artifactType, mediaType, config, expected) in cases {
            #expect(
                ArtifactKind.classify(artifactType: artifactType, mediaType: mediaType, configMediaType: config) == expected,
                "\(String(describing: artifactType)) \(String(describing: mediaType)) \(String(describing: config))")
        }
    }

    @Test func kindRawValues() {
        #expect(ArtifactKind.allCases.map(\.rawValue).sorted()
            == ["cloud-image", "container-image", "image-index", "snapshot", "unknown"])
    }
}

@Suite("Platform")
struct PlatformTests {
    @Test func parses() throws {
        let amd = try Platform(parsing: "linux/amd64")
        #expect(amd.os == "linux")
        #expect(amd.architecture == "amd64")
        #expect(amd.variant == nil)
        #expect(amd.description == "linux/amd64")
        let arm = try Platform(parsing: "linux/arm64/v8")
        #expect(arm == Platform(os: "linux", architecture: "arm64", variant: "v8"))
        #expect(arm.description == "linux/arm64/v8")
    }

    @Test(arguments: ["", "linux", "linux/", "/amd64", "linux//v8", "linux/arm64/", "a/b/c/d", "/"])
    func rejectsMalformed(input: String) {
        let error = #expect(throws: ValidationError.self) { try Platform(parsing: input) }
        #expect(error?.input == input)
    }

    @Test func arm64VariantMatching() throws {
        let arm64 = try Platform(parsing: "linux/arm64")
        let arm64v8 = try Platform(parsing: "linux/arm64/v8")
        let arm64v9 = try Platform(parsing: "linux/arm64/v9")
        // Wanting plain arm64 matches an entry with or without the v8 variant.
        #expect(arm64.matches(arm64v8))
        #expect(arm64.matches(arm64))
        // Wanting v8 explicitly matches an entry without a variant (arm64's default is v8).
        #expect(arm64v8.matches(arm64))
        #expect(arm64v8.matches(arm64v8))
        // v9 is not the default.
        #expect(!arm64.matches(arm64v9))
        #expect(!arm64v9.matches(arm64))
        #expect(!arm64v8.matches(arm64v9))
    }

    @Test func otherMatching() throws {
        let amd = try Platform(parsing: "linux/amd64")
        let arm = try Platform(parsing: "linux/arm")
        let armv7 = try Platform(parsing: "linux/arm/v7")
        let armv6 = try Platform(parsing: "linux/arm/v6")
        #expect(amd.matches(amd))
        #expect(!amd.matches(try Platform(parsing: "linux/arm64")))
        #expect(!amd.matches(try Platform(parsing: "windows/amd64")))
        // A missing variant matches any.
        #expect(arm.matches(armv7))
        #expect(armv7.matches(arm))
        #expect(!armv7.matches(armv6))
        #expect(try Platform(parsing: "linux/amd64/v3").matches(amd))
    }

    @Test func hostIsLinux() {
        let host = Platform.host
        #expect(host.os == "linux")
        #if arch(x86_64)
            #expect(host.description == "linux/amd64")
        #elseif arch(arm64)
            #expect(host.description == "linux/arm64/v8")
        #endif
        #expect(host.matches(host))
    }

    @Test func codableUsesOCIKeys() throws {
        let json = #"{"architecture":"amd64","os":"windows","os.version":"10.0.1","os.features":["f"],"variant":"v2","features":["x"]}"#
        let platform = try JSONDecoder().decode(Platform.self, from: Data(json.utf8))
        #expect(platform.osVersion == "10.0.1")
        #expect(platform.osFeatures == ["f"])
        #expect(platform.variant == "v2")
        #expect(platform.features == ["x"])
        #expect(try JSONDecoder().decode(Platform.self, from: JSONEncoder().encode(platform)) == platform)
    }
}
