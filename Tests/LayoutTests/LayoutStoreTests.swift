import FerryCore
import Foundation
import Layout
import OCI
import Testing

/// Reading and writing layouts through the storage protocol.
@Suite struct LayoutStoreTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures")
    static let v1 = try! Digest(parsing: "sha256:8d960ecee556cdc5d941f21a1c23e93586aa0f4bd8cd93e22b847ebc7463c939")
    static let v2 = try! Digest(parsing: "sha256:90bb8ace527f2c1fec985d78a98b6912dfaea6f0bfd6562041a92719565825ae")

    /// A copy of the umoci fixture whose index.json names its two manifests as given.
    private func layout(named entries: [(Digest, [String: String])]) throws -> (URL, LayoutStore) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-layout-\(UUID().uuidString.prefix(8))")
        try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("umoci-layout"), to: directory)
        let manifests = entries.map { digest, annotations -> [String: Any] in
            ["mediaType": MediaType.imageManifest, "digest": digest.description, "size": digest == Self.v1 ? 345 : 499, "annotations": annotations]
        }
        let index = try JSONSerialization.data(withJSONObject: ["schemaVersion": 2, "manifests": manifests])
        try index.write(to: directory.appendingPathComponent("index.json"))
        return (directory, LayoutStore(directory: directory.path))
    }

    @Test func resolvesBareFullSuffixAndContainerdNames() async throws {
        let (directory, store) = try layout(named: [
            (Self.v1, [AnnotationKey.refName: "example.com/app:v1"]),
            (Self.v2, [AnnotationKey.containerdImageName: "docker.io/library/app:v2"]),
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(try await store.resolve(.tag("example.com/app:v1"), in: "").digest == Self.v1)
        #expect(try await store.resolve(.tag("v1"), in: "").digest == Self.v1)  // *:TAG suffix match
        #expect(try await store.resolve(.tag("v1"), in: "example.com/app").digest == Self.v1)
        #expect(try await store.resolve(.tag("v2"), in: "").digest == Self.v2)  // containerd's name
        #expect(try await store.resolve(.digest(Self.v2), in: "").digest == Self.v2)
        await #expect(throws: StorageError.self) { try await store.resolve(.tag("v3"), in: "") }
    }

    @Test func aFullReferenceFindsABareTag() async throws {
        let (directory, store) = try layout(named: [(Self.v1, [AnnotationKey.refName: "v1"])])
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(try await store.resolve(.tag("example.com/app:v1"), in: "").digest == Self.v1)
        #expect(try await store.resolve(nil, in: "").digest == Self.v1)
    }

    @Test func twoEntriesMatchingOneTagAreReportedNotGuessed() async throws {
        let (directory, store) = try layout(named: [
            (Self.v1, [AnnotationKey.refName: "a.io/x:latest"]), (Self.v2, [AnnotationKey.refName: "b.io/y:latest"]),
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            _ = try await store.resolve(.tag("latest"), in: "")
            Issue.record("an ambiguous tag resolved")
        } catch let error as StorageError {
            #expect(error.message.contains("a.io/x:latest") && error.message.contains("b.io/y:latest"))
        }
        // An exact name still resolves.
        #expect(try await store.resolve(.tag("b.io/y:latest"), in: "").digest == Self.v2)
        let error = await #expect(throws: StorageError.self) { try await store.resolve(nil, in: "") }
        #expect(error?.message.contains("2 manifests") == true)
    }

    @Test func refNameStyles() throws {
        let bare = LayoutStore(directory: "/nonexistent", refNameStyle: .bare)
        let full = LayoutStore(directory: "/nonexistent", refNameStyle: .full)
        #expect(try bare.refName(forTag: "v1", repository: "example.com/app") == "v1")
        #expect(try full.refName(forTag: "v1", repository: "example.com/app") == "example.com/app:v1")
        #expect(try full.refName(forTag: "other.io/x:v2", repository: "example.com/app") == "other.io/x:v2")
        #expect(throws: StorageError.self) { try full.refName(forTag: "v1", repository: "") }
    }

    @Test func aBlobThatDoesNotMatchIsNotStoredAndLeavesNoTemporaryFile() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-layout-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = LayoutStore(directory: directory.path)
        let bytes = Array("hello".utf8)
        let good = Descriptor(mediaType: MediaType.octetStream, digest: Digest.compute(bytes), size: 5)
        let wrongDigest = Descriptor(mediaType: MediaType.octetStream, digest: Digest.compute(Array("hellp".utf8)), size: 5)
        let wrongSize = Descriptor(mediaType: MediaType.octetStream, digest: Digest.compute(bytes), size: 4)

        await #expect { try await store.pushBlob(wrongDigest, from: .bytes(bytes), in: "") } throws: {
            ($0 as? StorageError)?.code == .digestInvalid
        }
        await #expect { try await store.pushBlob(wrongSize, from: .bytes(bytes), in: "") } throws: {
            ($0 as? StorageError)?.code == .sizeInvalid
        }
        #expect(try await !store.blobExists(good.digest, in: ""))
        try await store.pushBlob(good, from: .bytes(bytes), in: "")
        #expect(try await store.blobExists(good.digest, in: ""))
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("blobs/sha256").path)
        #expect(names == [good.digest.encoded])
        // The layout is valid from its first write: oci-layout and an index.json exist.
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("oci-layout").path))
        #expect(try await store.repositories().isEmpty)
    }

    @Test func tagsReplaceAndDeleteUnderTheLock() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-layout-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = LayoutStore(directory: Self.fixtures.appendingPathComponent("umoci-layout").path)
        let store = LayoutStore(directory: directory.path)
        let engine = CopyEngine()
        try await engine.copy(from: CopyEndpoint(source), .tag("v1"), to: CopyEndpoint(store), tag: "t")
        try await engine.copy(from: CopyEndpoint(source), .tag("v2"), to: CopyEndpoint(store), tag: "t")
        #expect(try await store.tags(in: "") == ["t"])
        #expect(try await store.resolve(.tag("t"), in: "").digest == Self.v2)
        try await store.deleteTag("t", in: "")
        #expect(try await store.tags(in: "").isEmpty)
        await #expect(throws: StorageError.self) { try await store.deleteTag("t", in: "") }
    }
}
