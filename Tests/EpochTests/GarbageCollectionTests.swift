import FerryCore
import Foundation
import Layout
import OCI
import Testing

@testable import Epoch

/// ferry gc: what no tag reaches goes, after its grace period; what a tag reaches never does.
@Suite struct GarbageCollectionTests {
    static let fixtures = EpochStoreTests.fixtures
    static let later = Date().addingTimeInterval(7200)  // past the default one-hour grace

    private func scratch() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("ferry-gc-\(UUID().uuidString.prefix(8))")
    }

    private func fixture(_ name: String) -> LayoutStore {
        LayoutStore(directory: Self.fixtures.appendingPathComponent(name).path)
    }

    /// A layout holding v1 and v2 of the umoci image, then with v2's tag dropped.
    private func layoutWithAnOrphan(at root: URL) async throws -> LayoutStore {
        let store = LayoutStore(directory: root.path)
        try await CopyEngine().copy(from: CopyEndpoint(fixture("umoci-layout")), .tag("v1"), to: CopyEndpoint(store), tag: "v1")
        try await CopyEngine().copy(from: CopyEndpoint(fixture("umoci-layout")), .tag("v2"), to: CopyEndpoint(store), tag: "v2")
        try await store.deleteTag("v2", in: "")
        return store
    }

    @Test func aDryRunListsWhatARealRunRemoves() async throws {
        let root = scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let store = try await layoutWithAnOrphan(at: root)
        let collector = GarbageCollector()
        let dry = try await collector.collect(store, dryRun: true, now: Self.later)
        // v2's manifest, config and its own layer; the shared base layer stays with v1.
        #expect(Set(dry.garbage.map(\.digest.encoded)) == [EpochStoreTests.v2.encoded,
            "4d5f3267867ee2cd5f95ce2ee6aa3d190ef2542fe838239afa85875acdf3ee0d", "01a765c31005c24e8d5f02e40f144c9455e12c8b0ec6da1b1424f1424a45b4a8"])
        #expect(dry.bytes == 499 + 734 + 136)
        #expect(try await store.storedBlobs().count == 6)  // nothing removed yet

        let real = try await collector.collect(store, dryRun: false, now: Self.later)
        #expect(Set(real.garbage.map(\.digest)) == Set(dry.garbage.map(\.digest)))
        #expect(try await store.storedBlobs().count == 3)
        let report = await StorageVerifier().verify(roots: try await store.roots(), in: store, stored: try await store.storedBlobs())
        #expect(report.faults.isEmpty && report.manifests == 1)
    }

    @Test func youngContentIsSpared() async throws {
        let root = scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let store = try await layoutWithAnOrphan(at: root)
        let report = try await GarbageCollector().collect(store, dryRun: false)
        #expect(report.garbage.isEmpty && report.spared.count == 3)
        #expect(try await store.storedBlobs().count == 6)
    }

    @Test func anUnreadableManifestUnderATagStopsEverything() async throws {
        let root = scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let store = LayoutStore(directory: root.path)
        try await CopyEngine(options: CopyOptions(allPlatforms: true)).copy(
            from: CopyEndpoint(fixture("multiarch-layout")), .tag("latest"), to: CopyEndpoint(store), tag: "multi")
        let child = try Digest(parsing: "sha256:43eece2f4b1c1c26e5e5e813ec56c08c5bbd20b41840e2d0b984f33419438c5f")
        try await store.deleteBlob(child, in: "")
        let before = try await store.storedBlobs().count
        await #expect(throws: StorageError.self) { try await GarbageCollector().collect(store, dryRun: false, now: Self.later) }
        #expect(try await store.storedBlobs().count == before)
    }

    @Test func aBucketLosesUntaggedManifestsAndTheirBlobsButNeverTagsOrTheCatalog() async throws {
        let root = scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let bucket = EpochStore(objects: DirectoryObjectStore(root: root.path))
        try await CopyEngine().copy(from: CopyEndpoint(fixture("umoci-layout")), .tag("v1"), to: CopyEndpoint(bucket, repository: "app"), tag: "v1")
        // Pushed by digest only: no tag reaches it.
        try await CopyEngine().copy(from: CopyEndpoint(fixture("umoci-layout")), .tag("v2"), to: CopyEndpoint(bucket, repository: "app"), tag: nil)
        let report = try await GarbageCollector().collect(bucket, dryRun: false, now: Self.later)
        #expect(report.garbage.contains(StoredItem(kind: .manifest(repository: "app"), digest: EpochStoreTests.v2, size: 499, modified: report.garbage.first { $0.digest == EpochStoreTests.v2 }?.modified ?? Date())))
        #expect(report.garbage.count == 3)  // v2's manifest copy, its config, its own layer
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("epoch/manifests/app/v1.json").path))
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("epoch/catalog.json").path))
        #expect(try await bucket.resolve(.tag("v1"), in: "app").digest == EpochStoreTests.v1)
        let verify = await StorageVerifier().verify(roots: try await bucket.roots(), in: bucket, stored: try await bucket.storedBlobs())
        #expect(verify.faults.isEmpty)
    }

    @Test func aCopyThatReliesOnAnOldBlobRefreshesIt() async throws {
        let root = scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let store = LayoutStore(directory: root.path)
        try await CopyEngine().copy(from: CopyEndpoint(fixture("umoci-layout")), .tag("v1"), to: CopyEndpoint(store), tag: "v1")
        let base = root.appendingPathComponent("blobs/sha256/b8f21b73fc6ffac9721ae79b65bc943245c22d3d20843cfeae44149cc6ce6ed7").path
        let old = Date().addingTimeInterval(-86400)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: base)
        let result = try await CopyEngine().copy(from: CopyEndpoint(fixture("umoci-layout")), .tag("v2"), to: CopyEndpoint(store), tag: "v2")
        #expect(result.blobsSkipped == 1)
        let refreshed = try FileManager.default.attributesOfItem(atPath: base)[.modificationDate] as? Date
        #expect((refreshed ?? old).timeIntervalSinceNow > -60)
    }
}
