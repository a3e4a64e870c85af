import Cocoon
import FerryCore
import Foundation
import HTTPSupport
import OCI
import SystemPackage
import Testing
@testable import Distribution

/// The Puller with a registry as its source (issue 13, point 8): a snapshot pushed to the
/// registry from an export tarball is pulled into a cocoon root on demand.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["FERRY_TEST_REGISTRY"] != nil, "needs the registry make test starts"))
struct PullerFromRegistryTests {
    @Test func aPullerEnsuresASnapshotFromARegistry() async throws {
        let host = ProcessInfo.processInfo.environment["FERRY_TEST_REGISTRY"]!
        let registry = try RegistryStore(host: host, credentials: CredentialSource(environment: [:]), trust: Trust(verifies: false))
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fixtures/cocoon-export.tar").path
        let export = CocoonArchiveStore(file: fixture, options: SnapshotArtifactOptions(created: Date(timeIntervalSince1970: 0)))
        let name = try #require(try await export.repositories().first)
        try await CopyEngine().copy(from: CopyEndpoint(export, repository: name), nil,
                                    to: CopyEndpoint(registry, repository: "pulled/\(name)"), tag: "v1")

        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-puller-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let puller = Puller(root: FilePath(root), source: registry)
        let id = try await puller.ensure("pulled/\(name)", tag: "v1", as: "local")
        #expect(!id.isEmpty)
        // A second ensure finds it present and pulls nothing.
        #expect(try await puller.ensure("pulled/\(name)", tag: "v1", as: "local") == id)
        let local = CocoonStore(rootPath: root)
        #expect(try await local.repositories().contains("local"))
    }
}
