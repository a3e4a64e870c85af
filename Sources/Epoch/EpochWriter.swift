import FerryCore
import Foundation
import OCI

extension EpochStore {
    /// A blob that exists is skipped (epoch's HEAD first); otherwise it is verified while it
    /// streams, and the object appears only once digest and size match.
    public func pushBlob(_ descriptor: Descriptor, from stream: ByteStream, in repository: String) async throws {
        if try await blobExists(descriptor.digest, in: repository) { return }
        try await objects.put(blobKey(descriptor.digest), from: stream.verifying(descriptor), size: descriptor.size)
    }

    /// By tag: the by-digest copy first, then the tag object, then the catalog. By digest (no
    /// tag): the by-digest copy only, as epoch does for the children of an index.
    public func pushManifest(_ manifest: Manifest, as target: ManifestTarget, in repository: String) async throws {
        try validate(repository)
        try await objects.write(digestKey(manifest.digest, in: repository), manifest.bytes)
        guard case .root(let tag?) = target else { return }
        guard Names.isValidTag(tag) else { throw StorageError(.nameInvalid, "\(displayName): '\(tag)' is not a valid tag") }
        let key = tagKey(tag, in: repository)
        try await objects.write(prefix + key, manifest.bytes)
        try await objects.update(catalogKey) { current in
            var catalog = try current.map { try Catalog(bytes: $0) } ?? Catalog()
            catalog.add(tag: tag, key: key, repository: repository)
            return catalog.encoded()
        }
    }
}
