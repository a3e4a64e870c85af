import Epoch
import FerryCore
import Foundation
import Layout
import OCI
import Testing

/// Copy A writes a shared layer and fails; copy B skipped that layer as present. The rule: A's
/// abort never removes what B marked in use, and B never tags a manifest whose blobs are gone.
/// Driven step by step with two stores on one destination, as two processes would be.
@Suite struct AbortRaceTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures")

    private func scratch() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("ferry-race-\(UUID().uuidString.prefix(8))")
    }

    /// The v1 image of the umoci fixture, and its blobs with their bytes.
    private func image() async throws -> (manifest: Manifest, blobs: [(Descriptor, [UInt8])]) {
        let source = LayoutStore(directory: Self.fixtures.appendingPathComponent("umoci-layout").path)
        let manifest = try await source.resolveManifest(.tag("v1"), in: "")
        var blobs: [(Descriptor, [UInt8])] = []
        for blob in manifest.blobs {
            blobs.append((blob, try await source.fetch(blob, in: "").collect(upTo: Int(blob.size), what: "blob")))
        }
        return (manifest, blobs)
    }

    /// Both orders of the race, on any destination that two stores can open.
    private func race(open: () -> any Storage, verify: (any Storage) async throws -> Void) async throws {
        let (manifest, blobs) = try await image()
        let layer = blobs.last!.0

        // 1. A writes the layer; B finds it and marks it in use; A fails and aborts: the layer stays.
        let a = open(), b = open()
        for (descriptor, bytes) in blobs where descriptor.digest != layer.digest {
            try await b.pushBlob(descriptor, from: .bytes(bytes), in: "app")
        }
        try await a.pushBlob(layer, from: .bytes(blobs.last!.1), in: "app")
        #expect(try await b.blobExists(layer.digest, in: "app"))
        try await Task.sleep(for: .milliseconds(20))  // a later time than A's write
        await b.markInUse(layer.digest, in: "app")
        await a.abort()
        #expect(try await b.blobExists(layer.digest, in: "app"))
        try await b.pushManifest(manifest, as: .root(tag: "v1"), in: "app")
        try await verify(open())

        // 2. A writes the layer of a fresh destination; B sees it but A's abort comes before B's mark:
        //    the layer goes, and B's tag is refused instead of naming a missing blob.
        let c = open(), d = open()
        try await c.deleteTag("v1", in: "app")
        _ = try? await c.deleteBlob(layer.digest, in: "app")
        try await c.pushBlob(layer, from: .bytes(blobs.last!.1), in: "app")
        #expect(try await d.blobExists(layer.digest, in: "app"))
        await c.abort()
        await d.markInUse(layer.digest, in: "app")
        await #expect { try await d.pushManifest(manifest, as: .root(tag: "v1"), in: "app") } throws: {
            ($0 as? StorageError)?.code == .manifestBlobUnknown
        }
        await #expect(throws: StorageError.self) { try await d.resolve(.tag("v1"), in: "app") }
    }

    @Test func layout() async throws {
        let directory = scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await race(open: { LayoutStore(directory: directory.path, refNameStyle: .bare) }) { store in
            let inventory = store as! LayoutStore
            let report = await StorageVerifier().verifyEverything(in: inventory)
            #expect(report.faults.isEmpty, "\(report.faults)")
        }
    }

    @Test func epochDirectory() async throws {
        let directory = scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await race(open: { EpochStore(objects: DirectoryObjectStore(root: directory.path)) }) { store in
            let report = await StorageVerifier().verifyEverything(in: store as! EpochStore)
            #expect(report.faults.isEmpty, "\(report.faults)")
        }
    }
}
