import FerryCore
import Foundation
import Layout
import OCI
import Testing

@testable import Epoch

/// The Epoch registry core on a directory bucket: the exact keys and bytes of FORMATS.md §1.
@Suite struct EpochStoreTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures")
    static let v1 = try! Digest(parsing: "sha256:8d960ecee556cdc5d941f21a1c23e93586aa0f4bd8cd93e22b847ebc7463c939")
    static let v2 = try! Digest(parsing: "sha256:90bb8ace527f2c1fec985d78a98b6912dfaea6f0bfd6562041a92719565825ae")
    static let multiarch = try! Digest(parsing: "sha256:70997762274fad969c09f4cbbbe558cb0bbc664929477f4989fa05625c25c9a1")

    private func bucket() throws -> (URL, EpochStore) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-epoch-\(UUID().uuidString.prefix(8))")
        return (root, EpochStore(objects: DirectoryObjectStore(root: root.path)))
    }

    private func layout(_ name: String) -> LayoutStore {
        LayoutStore(directory: Self.fixtures.appendingPathComponent(name).path)
    }

    /// Every file under the bucket directory, as keys (checked against a listing, not the reader).
    private func keys(_ root: URL) -> Set<String> {
        Set(FileManager.default.enumerator(atPath: root.path)!.compactMap { item -> String? in
            let path = item as! String
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: root.appendingPathComponent(path).path, isDirectory: &isDirectory)
            return isDirectory.boolValue ? nil : path
        })
    }

    @Test func aCopyWritesExactlyTheKeysOfFORMATS() async throws {
        let (root, store) = try bucket()
        defer { try? FileManager.default.removeItem(at: root) }
        let engine = CopyEngine(options: CopyOptions(allPlatforms: true))
        try await engine.copy(from: CopyEndpoint(layout("umoci-layout")), .tag("v2"), to: CopyEndpoint(store, repository: "windows/win11"), tag: "25h2")
        try await engine.copy(from: CopyEndpoint(layout("multiarch-layout")), .tag("latest"), to: CopyEndpoint(store, repository: "windows/win11"), tag: "multi")

        let blobs = ["4d5f3267867ee2cd5f95ce2ee6aa3d190ef2542fe838239afa85875acdf3ee0d", "b8f21b73fc6ffac9721ae79b65bc943245c22d3d20843cfeae44149cc6ce6ed7",
                     "01a765c31005c24e8d5f02e40f144c9455e12c8b0ec6da1b1424f1424a45b4a8", "01b33476a609ca37b3b3adb985f4e96fdab6c42ef672eb3fd8132663422cf3a4",
                     "9757853c892c6a427318f689bcd66e964b5f0498aeca8d38fb57e4e1a0fe5a48", "7b32e03f05808e9ef4a1a9e594b24f7d495a23042798558b35650400a44ae41c",
                     "65936af95485583bb995b551b63bd830e4ec921d4e29cf52f29596649e70b876"]
        let manifests = [Self.v2, Self.multiarch, try Digest(parsing: "sha256:30a5c378a1f41631d4902e46448003adf8d4076e29a69cafedc8e8874eebc292"),
                         try Digest(parsing: "sha256:43eece2f4b1c1c26e5e5e813ec56c08c5bbd20b41840e2d0b984f33419438c5f")]
        var expected: Set<String> = ["epoch/catalog.json", "epoch/manifests/windows/win11/25h2.json", "epoch/manifests/windows/win11/multi.json"]
        expected.formUnion(blobs.map { "epoch/blobs/sha256/\($0)" })
        expected.formUnion(manifests.map { "epoch/manifests/windows/win11/_digests/sha256-\($0.encoded).json" })
        #expect(keys(root) == expected)

        // Manifests are stored verbatim, by tag and by digest.
        let fixtureBytes = try Data(contentsOf: Self.fixtures.appendingPathComponent("umoci-layout/blobs/sha256/\(Self.v2.encoded)"))
        #expect(try Data(contentsOf: root.appendingPathComponent("epoch/manifests/windows/win11/25h2.json")) == fixtureBytes)
        #expect(try Data(contentsOf: root.appendingPathComponent("epoch/manifests/windows/win11/_digests/sha256-\(Self.v2.encoded).json")) == fixtureBytes)

        // The catalog parses into epoch's schema (read with Python, not with Ferry).
        let script = """
            import json,sys
            c=json.load(open(sys.argv[1]))
            assert set(c)=={"repositories","updatedAt"}, c
            r=c["repositories"]["windows/win11"]
            assert r["tags"]=={"25h2":"manifests/windows/win11/25h2.json","multi":"manifests/windows/win11/multi.json"}, r
            assert isinstance(r["updatedAt"],str) and isinstance(c["updatedAt"],str)
            assert not open(sys.argv[1]).read().endswith("\\n")
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, root.appendingPathComponent("epoch/catalog.json").path]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    @Test func roundTripsWithIdenticalDigestsAndDeduplicates() async throws {
        let (root, store) = try bucket()
        defer { try? FileManager.default.removeItem(at: root) }
        let engine = CopyEngine()
        try await engine.copy(from: CopyEndpoint(layout("umoci-layout")), .tag("v1"), to: CopyEndpoint(store, repository: "app"), tag: "v1")
        let second = try await engine.copy(from: CopyEndpoint(layout("umoci-layout")), .tag("v2"), to: CopyEndpoint(store, repository: "app"), tag: "v2")
        #expect(second.blobsSkipped == 1 && second.blobsCopied == 2)  // the shared base layer is not written again

        let out = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-epoch-out-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: out) }
        let back = try await engine.copy(from: CopyEndpoint(store, repository: "app"), .tag("v2"), to: CopyEndpoint(LayoutStore(directory: out.path)), tag: "v2")
        #expect(back.root.digest == Self.v2)
        #expect(try await store.tags(in: "app").sorted() == ["v1", "v2"])
        // No tag named: the only one, or latest.
        await #expect(throws: StorageError.self) { try await store.resolve(nil, in: "app") }
    }

    @Test func byDigestPushesTouchNeitherTagsNorCatalog() async throws {
        let (root, store) = try bucket()
        defer { try? FileManager.default.removeItem(at: root) }
        let source = layout("umoci-layout")
        let manifest = try await source.fetchManifest(try await source.resolve(.tag("v1"), in: ""), in: "")
        // A manifest whose blobs are not there is refused, and nothing is written.
        await #expect { try await store.pushManifest(manifest, as: .root(tag: nil), in: "app") } throws: {
            ($0 as? StorageError)?.code == .manifestBlobUnknown
        }
        #expect(keys(root).isEmpty)
        for blob in manifest.blobs { try await store.pushBlob(blob, from: try await source.fetch(blob, in: ""), in: "app") }
        try await store.pushManifest(manifest, as: .root(tag: nil), in: "app")
        #expect(keys(root).filter { !$0.hasPrefix("epoch/blobs/") } == ["epoch/manifests/app/_digests/sha256-\(Self.v1.encoded).json"])
        #expect(try await store.tags(in: "app").isEmpty)
        #expect(try await store.resolve(.digest(Self.v1), in: "app").digest == Self.v1)
    }

    @Test func tagListingSkipsDigestCopiesAndNestedRepositories() async throws {
        let (root, store) = try bucket()
        defer { try? FileManager.default.removeItem(at: root) }
        let engine = CopyEngine()
        try await engine.copy(from: CopyEndpoint(layout("umoci-layout")), .tag("v1"), to: CopyEndpoint(store, repository: "a"), tag: "one")
        try await engine.copy(from: CopyEndpoint(layout("umoci-layout")), .tag("v2"), to: CopyEndpoint(store, repository: "a/b"), tag: "two")
        #expect(try await store.tags(in: "a") == ["one"])
        #expect(try await store.tags(in: "a/b") == ["two"])
        #expect(try await store.repositories() == ["a", "a/b"])
    }

    @Test func deletingFollowsEpoch() async throws {
        let (root, store) = try bucket()
        defer { try? FileManager.default.removeItem(at: root) }
        let engine = CopyEngine()
        for tag in ["x", "y"] {
            try await engine.copy(from: CopyEndpoint(layout("umoci-layout")), .tag("v1"), to: CopyEndpoint(store, repository: "app"), tag: tag)
        }
        try await engine.copy(from: CopyEndpoint(layout("umoci-layout")), .tag("v2"), to: CopyEndpoint(store, repository: "app"), tag: "z")
        // By digest: every tag with those bytes goes, then the digest copy; other tags stay.
        try await store.deleteManifest(Self.v1, in: "app")
        #expect(try await store.tags(in: "app") == ["z"])
        #expect(try await store.readCatalog().repositories["app"]?.tags.keys.sorted() == ["z"])
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("epoch/manifests/app/_digests/sha256-\(Self.v1.encoded).json").path))
        await #expect(throws: StorageError.self) { try await store.deleteManifest(Self.v1, in: "app") }
        // The last tag of a repository takes the repository out of the catalog.
        try await store.deleteTag("z", in: "app")
        #expect(try await store.readCatalog().repositories.isEmpty)
        // Blobs stay: epoch never deletes them.
        #expect(try await store.blobExists(try Digest(parsing: "sha256:b8f21b73fc6ffac9721ae79b65bc943245c22d3d20843cfeae44149cc6ce6ed7"), in: "app"))
    }

    @Test func aBlobThatDoesNotMatchIsNeverStored() async throws {
        let (root, store) = try bucket()
        defer { try? FileManager.default.removeItem(at: root) }
        let bytes = Array("hello".utf8)
        let wrong = Descriptor(mediaType: MediaType.octetStream, digest: Digest.compute(Array("other".utf8)), size: 5)
        await #expect { try await store.pushBlob(wrong, from: .bytes(bytes), in: "app") } throws: {
            ($0 as? StorageError)?.code == .digestInvalid
        }
        #expect(try await !store.blobExists(wrong.digest, in: "app"))
        #expect(keys(root).filter { !$0.contains(".ferry-") }.isEmpty)
    }
}
