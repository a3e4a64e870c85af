import OCI

/// A store that keeps everything in memory: the reference backend for the engine's tests and a
/// scratch space for tools built on Ferry.
public actor MemoryStore: Storage, Inventory {
    private var blobs: [Digest: [UInt8]] = [:]
    private var manifestTypes: [Digest: String] = [:]
    private var tagsByRepository: [String: [String: Digest]] = [:]

    public nonisolated let displayName: String

    public init(name: String = "memory:") {
        displayName = name
    }

    public func resolve(_ selector: ManifestSelector?, in repository: String) throws -> Descriptor {
        switch selector {
        case .digest(let digest):
            guard let type = manifestTypes[digest], let bytes = blobs[digest] else {
                throw StorageError(.manifestUnknown, "\(displayName): no manifest \(digest)")
            }
            return Descriptor(mediaType: type, digest: digest, size: Int64(bytes.count))
        case .tag(let tag):
            guard let digest = tagsByRepository[repository]?[tag] else {
                throw StorageError(.manifestUnknown, "\(displayName): no tag '\(tag)' in '\(repository)'")
            }
            return try resolve(.digest(digest), in: repository)
        case nil:
            let tags = tagsByRepository[repository] ?? [:]
            guard tags.count == 1, let only = tags.values.first else {
                throw StorageError(.manifestUnknown, "\(displayName): name a tag (\(tags.keys.sorted().joined(separator: ", ")))")
            }
            return try resolve(.digest(only), in: repository)
        }
    }

    public func fetch(_ descriptor: Descriptor, in repository: String) throws -> ByteStream {
        guard let bytes = blobs[descriptor.digest] else {
            throw StorageError(descriptor.isManifest ? .manifestUnknown : .blobUnknown, "\(displayName): no content \(descriptor.digest)")
        }
        return ByteStream.bytes(bytes, chunkSize: 64 << 10)
    }

    public func blobExists(_ digest: Digest, in repository: String) -> Bool { blobs[digest] != nil }

    public func blobSize(_ digest: Digest, in repository: String) -> Int64? { blobs[digest].map { Int64($0.count) } }

    public func manifestExists(_ digest: Digest, in repository: String) -> Bool { manifestTypes[digest] != nil }

    public func pushBlob(_ descriptor: Descriptor, from stream: ByteStream, in repository: String) async throws {
        var bytes = [UInt8]()
        for try await chunk in stream.verifying(descriptor) { bytes += chunk }
        blobs[descriptor.digest] = bytes
    }

    public func pushManifest(_ manifest: Manifest, as target: ManifestTarget, in repository: String) throws {
        blobs[manifest.digest] = manifest.bytes
        manifestTypes[manifest.digest] = manifest.mediaType
        if case .root(let tag?) = target { tagsByRepository[repository, default: [:]][tag] = manifest.digest }
    }

    public func repositories() -> [String] { tagsByRepository.keys.sorted() }

    public func tags(in repository: String) -> [String] { (tagsByRepository[repository] ?? [:]).keys.sorted() }

    public func deleteTag(_ tag: String, in repository: String) {
        tagsByRepository[repository]?[tag] = nil
    }

    public func deleteManifest(_ digest: Digest, in repository: String) {
        for (repo, tags) in tagsByRepository {
            tagsByRepository[repo] = tags.filter { $0.value != digest }
        }
        manifestTypes[digest] = nil
        blobs[digest] = nil
    }

    public func deleteBlob(_ digest: Digest, in repository: String) { blobs[digest] = nil }

    public func roots() -> [(name: String, repository: String, descriptor: Descriptor)] {
        tagsByRepository.flatMap { repo, tags in
            tags.compactMap { tag, digest in
                (try? resolve(.digest(digest), in: repo)).map { (tag, repo, $0) }
            }
        }
    }

    public func storedBlobs() -> [(digest: Digest, size: Int64)] {
        blobs.map { ($0.key, Int64($0.value.count)) }
    }

    /// Replaces a stored blob's bytes without any check: for tests that need corrupt content.
    func corrupt(_ digest: Digest, with bytes: [UInt8]) {
        blobs[digest] = bytes
    }
}
