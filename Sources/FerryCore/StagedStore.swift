import OCI

/// A destination that must know a whole artifact before its first byte is written (a cocoon
/// snapshot, a disk) made to take pushes in a registry's order: blobs one by one, the manifest
/// last. Blobs and child manifests wait in `staging` (verified, as any push); a manifest pushed
/// under a tag is then copied from there into `target` by the copy engine, which gives the
/// target its plan first, as `ferry copy` does. Reads go to the target first. A wrapper that is
/// itself a backend: the server uses it for cocoon roots, and any copy could.
public final class StagedStore: Storage {
    public let target: any Storage
    private let staging: any Storage

    /// `staging` holds what is pushed until its manifest comes: a scratch layout, say.
    public init(_ target: any Storage, staging: any Storage) {
        self.target = target
        self.staging = staging
    }

    public var displayName: String { target.displayName }

    public func resolve(_ selector: ManifestSelector?, in repository: String) async throws -> Descriptor {
        try await target.resolve(selector, in: repository)
    }

    public func fetch(_ descriptor: Descriptor, in repository: String) async throws -> ByteStream {
        let inTarget = descriptor.isManifest
            ? try await target.manifestExists(descriptor.digest, in: repository)
            : try await target.blobExists(descriptor.digest, in: repository)
        if inTarget {
            return try await target.fetch(descriptor, in: repository)
        }
        return try await staging.fetch(descriptor, in: "")
    }

    public func blobSize(_ digest: Digest, in repository: String) async throws -> Int64? {
        if let size = try await target.blobSize(digest, in: repository) { return size }
        return try await staging.blobSize(digest, in: "")
    }

    public func blobExists(_ digest: Digest, in repository: String) async throws -> Bool {
        if try await target.blobExists(digest, in: repository) { return true }
        return try await staging.blobExists(digest, in: "")
    }

    public func manifestExists(_ digest: Digest, in repository: String) async throws -> Bool {
        if try await target.manifestExists(digest, in: repository) { return true }
        return try await staging.manifestExists(digest, in: "")
    }

    public func pushBlob(_ descriptor: Descriptor, from stream: ByteStream, in repository: String) async throws {
        try await staging.pushBlob(descriptor, from: stream, in: "")
    }

    /// A child waits in staging; a manifest under a tag is copied into the target with what it
    /// names, which must all be staged (or already in the target) by then.
    public func pushManifest(_ manifest: Manifest, as role: ManifestTarget, in repository: String) async throws {
        try await staging.pushManifest(manifest, as: .child, in: "")
        guard case .root(let tag?) = role else { return }
        let engine = CopyEngine(options: CopyOptions(jobs: 2, allPlatforms: true))
        do {
            _ = try await engine.copy(from: CopyEndpoint(staging), .digest(manifest.digest), to: CopyEndpoint(target, repository: repository), tag: tag)
        } catch let error as StorageError where error.code == .blobUnknown || error.code == .manifestUnknown {
            throw StorageError(.manifestBlobUnknown, "manifest \(manifest.digest) names content that was not pushed: \(error.message)")
        }
    }

    public func repositories() async throws -> [String] { try await target.repositories() }
    public func tags(in repository: String) async throws -> [String] { try await target.tags(in: repository) }
    public func deleteTag(_ tag: String, in repository: String) async throws { try await target.deleteTag(tag, in: repository) }
    public func deleteManifest(_ digest: Digest, in repository: String) async throws { try await target.deleteManifest(digest, in: repository) }
    public func deleteBlob(_ digest: Digest, in repository: String) async throws { try await target.deleteBlob(digest, in: repository) }
}
