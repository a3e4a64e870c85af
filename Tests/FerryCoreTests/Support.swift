import Foundation
import OCI

@testable import FerryCore

/// A value shared between tasks, guarded by a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withValue<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }

    var current: Value { withValue { $0 } }
}

/// Collects copy events in the order they are reported.
final class EventLog: Sendable {
    private let events = Locked<[CopyEvent]>([])

    var handler: @Sendable (CopyEvent) -> Void {
        { [events] event in events.withValue { $0.append(event) } }
    }

    var all: [CopyEvent] { events.current }

    var started: [Descriptor] {
        all.compactMap { if case .blobStarted(let d) = $0 { return d } else { return nil } }
    }

    var copied: [Descriptor] {
        all.compactMap { if case .blobCopied(let d) = $0 { return d } else { return nil } }
    }

    var skipped: [Descriptor] {
        all.compactMap { if case .blobSkipped(let d) = $0 { return d } else { return nil } }
    }

    var progress: [(Descriptor, Int64)] {
        all.compactMap { if case .blobProgress(let d, let n) = $0 { return (d, n) } else { return nil } }
    }

    var pushed: [(Descriptor, String?)] {
        all.compactMap { if case .manifestPushed(let d, let tag) = $0 { return (d, tag) } else { return nil } }
    }

    /// The position of the first event about blob `digest` finishing (copied or skipped).
    func blobDone(_ digest: Digest) -> Int? {
        all.firstIndex {
            switch $0 {
            case .blobCopied(let d), .blobSkipped(let d): d.digest == digest
            default: false
            }
        }
    }

    /// The position of the manifestPushed event for `digest`.
    func manifestPushed(_ digest: Digest) -> Int? {
        all.firstIndex {
            if case .manifestPushed(let d, _) = $0 { return d.digest == digest }
            return false
        }
    }
}

/// Builds artifacts in a store.
struct Builder {
    let store: MemoryStore
    var repository: String = "team/app"

    /// Deterministic bytes of the given size, distinct per seed.
    static func content(_ seed: String, size: Int) -> [UInt8] {
        let base = Array(seed.utf8)
        return (0..<size).map { i in base[i % base.count] &+ UInt8(truncatingIfNeeded: i / base.count) }
    }

    @discardableResult
    func blob(_ bytes: [UInt8], type: String = MediaType.imageLayerGzip, title: String? = nil) async throws -> Descriptor {
        let descriptor = Descriptor(
            mediaType: type, digest: Digest.compute(bytes), size: Int64(bytes.count),
            annotations: title.map { [AnnotationKey.title: $0] })
        try await store.pushBlob(descriptor, from: .bytes(bytes, chunkSize: 7), in: repository)
        return descriptor
    }

    func manifestBytes<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
    }

    /// Pushes an image manifest naming `config` and `layers` (the blobs are not pushed here).
    @discardableResult
    func image(
        config: Descriptor, layers: [Descriptor], artifactType: String? = nil, as target: ManifestTarget = .child
    ) async throws -> Manifest {
        let image = ImageManifest(artifactType: artifactType, config: config, layers: layers)
        let manifest = try Manifest(bytes: try manifestBytes(image))
        try await store.pushManifest(manifest, as: target, in: repository)
        return manifest
    }

    /// Pushes a config and layers with the given sizes, then an image manifest naming them.
    @discardableResult
    func image(seed: String, layerSizes: [Int], as target: ManifestTarget = .child) async throws -> Manifest {
        let config = try await blob(Array("{\"seed\":\"\(seed)\"}".utf8), type: MediaType.imageConfig)
        var layers = [Descriptor]()
        for (i, size) in layerSizes.enumerated() {
            layers.append(try await blob(Self.content("\(seed)-\(i)", size: size), title: "\(seed)-\(i).tar.gz"))
        }
        return try await image(config: config, layers: layers, as: target)
    }

    /// Pushes an index naming `children`, with the platforms given.
    @discardableResult
    func index(_ children: [(Manifest, Platform?)], as target: ManifestTarget = .root(tag: "v1")) async throws -> Manifest {
        let descriptors = children.map { manifest, platform in
            Descriptor(mediaType: manifest.mediaType, digest: manifest.digest, size: Int64(manifest.bytes.count), platform: platform)
        }
        let manifest = try Manifest(bytes: try manifestBytes(ImageIndex(manifests: descriptors)))
        try await store.pushManifest(manifest, as: target, in: repository)
        return manifest
    }
}

/// A storage that passes everything to a MemoryStore and records what was fetched and how
/// often it was committed and aborted.
final class RecordingStore: Storage, Inventory {
    let inner: MemoryStore
    private let fetchedLog = Locked<[Digest]>([])
    let commits = Locked(0)
    let aborts = Locked(0)

    init(_ inner: MemoryStore) { self.inner = inner }

    var displayName: String { "recording:" }
    var fetched: [Digest] { fetchedLog.current }
    func resetLog() { fetchedLog.withValue { $0.removeAll() } }

    func resolve(_ selector: ManifestSelector?, in repository: String) async throws -> Descriptor {
        try await inner.resolve(selector, in: repository)
    }
    func fetch(_ descriptor: Descriptor, in repository: String) async throws -> ByteStream {
        fetchedLog.withValue { $0.append(descriptor.digest) }
        return try await inner.fetch(descriptor, in: repository)
    }
    func blobExists(_ digest: Digest, in repository: String) async throws -> Bool {
        await inner.blobExists(digest, in: repository)
    }
    func blobSize(_ digest: Digest, in repository: String) async throws -> Int64? {
        await inner.blobSize(digest, in: repository)
    }
    func manifestExists(_ digest: Digest, in repository: String) async throws -> Bool {
        await inner.manifestExists(digest, in: repository)
    }
    func pushBlob(_ descriptor: Descriptor, from stream: ByteStream, in repository: String) async throws {
        try await inner.pushBlob(descriptor, from: stream, in: repository)
    }
    func pushManifest(_ manifest: Manifest, as target: ManifestTarget, in repository: String) async throws {
        try await inner.pushManifest(manifest, as: target, in: repository)
    }
    func repositories() async throws -> [String] { await inner.repositories() }
    func tags(in repository: String) async throws -> [String] { await inner.tags(in: repository) }
    func deleteTag(_ tag: String, in repository: String) async throws { await inner.deleteTag(tag, in: repository) }
    func deleteManifest(_ digest: Digest, in repository: String) async throws { await inner.deleteManifest(digest, in: repository) }
    func deleteBlob(_ digest: Digest, in repository: String) async throws { await inner.deleteBlob(digest, in: repository) }
    func roots() async throws -> [(name: String, repository: String, descriptor: Descriptor)] { await inner.roots() }
    func storedBlobs() async throws -> [(digest: Digest, size: Int64)] { await inner.storedBlobs() }
    func commit() async throws { commits.withValue { $0 += 1 } }
    func abort() async { aborts.withValue { $0 += 1 } }
}
