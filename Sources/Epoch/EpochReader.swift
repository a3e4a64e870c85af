import FerryCore
import Foundation
import OCI

extension EpochStore {
    public func resolve(_ selector: ManifestSelector?, in repository: String) async throws -> Descriptor {
        try validate(repository)
        switch selector {
        case .digest(let digest):
            guard let bytes = try await objects.read(digestKey(digest, in: repository), limit: Manifest.maximumSize) else {
                throw StorageError(.manifestUnknown, "\(displayName): no manifest \(digest) in \(repository)")
            }
            return try describe(bytes, name: "\(repository)@\(digest)")
        case .tag(let tag):
            guard let bytes = try await objects.read(prefix + tagKey(tag, in: repository), limit: Manifest.maximumSize) else {
                let known = try await tags(in: repository)
                throw StorageError(.manifestUnknown, "\(displayName): no tag '\(tag)' in \(repository) (tags: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
            }
            let descriptor = try describe(bytes, name: "\(repository):\(tag)")
            manifestsReadByTag.withLock { $0[descriptor.digest] = bytes }
            return descriptor
        case nil:
            let known = try await tags(in: repository)
            if known.contains(EpochStore.defaultTag) { return try await resolve(.tag(EpochStore.defaultTag), in: repository) }
            guard known.count == 1 else {
                throw StorageError(.manifestUnknown, "\(displayName): \(repository) has \(known.isEmpty ? "no tags" : "tags \(known.joined(separator: ", ")) and none is latest"); name one")
            }
            return try await resolve(.tag(known[0]), in: repository)
        }
    }

    private func describe(_ bytes: [UInt8], name: String) throws -> Descriptor {
        do {
            return try Manifest(bytes: bytes).descriptor
        } catch let error as ValidationError {
            throw StorageError(.manifestInvalid, "\(displayName): \(name): \(error.problem)")
        }
    }

    public func fetch(_ descriptor: Descriptor, in repository: String) async throws -> ByteStream {
        if descriptor.isManifest {
            if let bytes = manifestsReadByTag.withLock({ $0[descriptor.digest] }) { return .bytes(bytes) }
            let key = digestKey(descriptor.digest, in: repository)
            guard try await objects.head(key) != nil else {
                throw StorageError(.manifestUnknown, "\(displayName): no manifest \(descriptor.digest) in \(repository)")
            }
            return try await objects.get(key, range: nil)
        }
        guard try await objects.head(blobKey(descriptor.digest)) != nil else {
            throw StorageError(.blobUnknown, "\(displayName): blob \(descriptor.digest) is missing")
        }
        return try await objects.get(blobKey(descriptor.digest), range: nil)
    }

    public func blobExists(_ digest: Digest, in repository: String) async throws -> Bool {
        try await objects.head(blobKey(digest)) != nil
    }

    public func blobSize(_ digest: Digest, in repository: String) async throws -> Int64? {
        try await objects.head(blobKey(digest))?.size
    }

    public func fetch(_ descriptor: Descriptor, range: Range<Int64>, in repository: String) async throws -> ByteStream {
        let key = descriptor.isManifest ? digestKey(descriptor.digest, in: repository) : blobKey(descriptor.digest)
        guard try await objects.head(key) != nil else {
            throw StorageError(descriptor.isManifest ? .manifestUnknown : .blobUnknown, "\(displayName): \(descriptor.digest) is missing")
        }
        return try await objects.get(key, range: range)
    }

    public func manifestExists(_ digest: Digest, in repository: String) async throws -> Bool {
        try await objects.head(digestKey(digest, in: repository)) != nil
    }

    /// The repositories, as `/v2/_catalog` gives them: from `catalog.json`.
    public func repositories() async throws -> [String] {
        try await objects.requireBucket()
        return try await readCatalog().repositories.keys.sorted()
    }

    /// A repository's tags, as epoch lists them: from the manifest objects.
    public func tags(in repository: String) async throws -> [String] {
        try validate(repository)
        return try await listTags(under: repository).map(\.tag)
    }

    public func roots() async throws -> [(name: String, repository: String, descriptor: Descriptor)] {
        var roots: [(name: String, repository: String, descriptor: Descriptor)] = []
        for (repository, tag) in try await listTags() {
            roots.append((tag, repository, try await resolve(.tag(tag), in: repository)))
        }
        return roots
    }

    public func storedBlobs() async throws -> [(digest: Digest, size: Int64)] {
        try await objects.list(prefix: "\(prefix)blobs/").compactMap { object in
            digest(ofKey: object.key).map { ($0, object.size) }
        }
    }
}
