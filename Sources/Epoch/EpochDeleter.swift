import FerryCore
import Foundation
import OCI

extension EpochStore {
    /// Deletes the tag object (a missing one is not an error), then its catalog entry.
    public func deleteTag(_ tag: String, in repository: String) async throws {
        try validate(repository)
        try await objects.delete(prefix + tagKey(tag, in: repository))
        try await objects.update(catalogKey) { current in
            guard let current else { return nil }
            var catalog = try self.parseCatalog(current)
            return catalog.remove(tag: tag, repository: repository) ? catalog.encoded() : nil
        }
    }

    /// Unknown unless the by-digest copy exists; then every tag whose bytes hash to the digest
    /// goes first, and the by-digest copy last, so a retry is safe.
    public func deleteManifest(_ digest: Digest, in repository: String) async throws {
        try validate(repository)
        let key = digestKey(digest, in: repository)
        guard try await objects.head(key) != nil else {
            throw StorageError(.manifestUnknown, "\(displayName): no manifest \(digest) in \(repository)")
        }
        for tag in try await tags(in: repository) {
            guard let bytes = try await objects.read(prefix + tagKey(tag, in: repository), limit: Manifest.maximumSize),
                Digest.compute(bytes, algorithm: digest.algorithm) == digest
            else { continue }
            try await deleteTag(tag, in: repository)
        }
        try await objects.delete(key)
    }

    public func deleteBlob(_ digest: Digest, in repository: String) async throws {
        try await objects.delete(blobKey(digest))
    }
}
