import FerryCore
import Foundation
import HTTPSupport
import OCI
import Testing
@testable import Distribution

/// The registry backend through the storage protocol, against the plain registry `make test`
/// starts: listing page by page, deleting, and the per-registry CA directories.
@Suite struct RegistryStoreTests {
    static let registry = ProcessInfo.processInfo.environment["FERRY_TEST_REGISTRY"]

    func store(pageSize: Int = 1000) throws -> RegistryStore {
        try RegistryStore(host: Self.registry!, credentials: CredentialSource(environment: [:]), trust: Trust(verifies: false), pageSize: pageSize)
    }

    /// Pushes a one-blob artifact tagged `tag` into `repository` and returns its manifest.
    func push(_ text: String, to repository: String, tag: String, in store: RegistryStore) async throws -> Manifest {
        let config = Array("{}".utf8)
        let layer = Array(text.utf8)
        let configDescriptor = Descriptor(mediaType: MediaType.emptyJSON, digest: Digest.compute(config), size: Int64(config.count))
        let layerDescriptor = Descriptor(mediaType: MediaType.octetStream, digest: Digest.compute(layer), size: Int64(layer.count))
        for (descriptor, bytes) in [(configDescriptor, config), (layerDescriptor, layer)] where !(try await store.blobExists(descriptor.digest, in: repository)) {
            try await store.pushBlob(descriptor, from: .bytes(bytes), in: repository)
        }
        let body = #"{"schemaVersion":2,"mediaType":"\#(MediaType.imageManifest)","config":{"mediaType":"\#(MediaType.emptyJSON)","digest":"\#(configDescriptor.digest)","size":2},"layers":[{"mediaType":"\#(MediaType.octetStream)","digest":"\#(layerDescriptor.digest)","size":\#(layer.count)}]}"#
        let manifest = try Manifest(bytes: Array(body.utf8))
        try await store.pushManifest(manifest, as: .root(tag: tag), in: repository)
        return manifest
    }

    @Test(.enabled(if: registry != nil, "needs the registry make test starts"))
    func listingsFollowLinkPagesAndDeletesRemove() async throws {
        let store = try store(pageSize: 2)
        let manifests = try await (1...5).asyncMap { try await push("layer \($0)", to: "pages/app", tag: "v\($0)", in: store) }
        for name in ["pages/a", "pages/b", "pages/c"] { _ = try await push("x", to: name, tag: "v1", in: store) }
        // Two per page: five tags take three pages, and the catalog several.
        #expect(try await store.tags(in: "pages/app") == ["v1", "v2", "v3", "v4", "v5"])
        #expect(Set(try await store.repositories()).isSuperset(of: ["pages/app", "pages/a", "pages/b", "pages/c"]))
        let scoped = try RegistryStore(host: Self.registry!, prefix: "pages", credentials: CredentialSource(environment: [:]),
                                       trust: Trust(verifies: false), pageSize: 2)
        #expect(try await scoped.repositories() == ["a", "app", "b", "c"])

        #expect(try await store.manifestExists(manifests[0].digest, in: "pages/app"))
        try await store.deleteManifest(manifests[0].digest, in: "pages/app")
        #expect(!(try await store.manifestExists(manifests[0].digest, in: "pages/app")))
        await #expect(throws: StorageError.self) { try await store.resolve(.tag("v1"), in: "pages/app") }
        // The CNCF registry cannot delete a tag alone: that is UNSUPPORTED, not a silent success.
        do {
            try await store.deleteTag("v2", in: "pages/app")
        } catch let error as StorageError {
            #expect(error.code == .unsupported, "\(error)")
        }
        let blob = manifests[4].blobs[1]
        try await store.deleteBlob(blob.digest, in: "pages/app")
        #expect(!(try await store.blobExists(blob.digest, in: "pages/app")))
    }

    @Test func caDirectoriesAreReadPerRegistry() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-certs-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: "\(root)/registry.example:5000", withIntermediateDirectories: true)
        for name in ["ca.crt", "other.crt", "client.cert", "client.key"] {
            FileManager.default.createFile(atPath: "\(root)/registry.example:5000/\(name)", contents: Data())
        }
        let found = RegistryStore.certificateDirectories(for: "registry.example:5000", roots: [root, "\(root)/absent"])
        #expect(found.map(\.path) == ["\(root)/registry.example:5000/ca.crt", "\(root)/registry.example:5000/other.crt"])
        #expect(RegistryStore.certificateDirectories(for: "other.example", roots: [root]).isEmpty)
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
