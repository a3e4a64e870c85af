import FerryCore
import Foundation
import OCI

/// A snapshot seen through the storage protocol (DESIGN.md): a repository holding one snapshot
/// artifact, whose manifest and config are made from the snapshot's files once, and whose
/// layers are read from the files on demand.
struct SnapshotView: Sendable {
    let manifest: Manifest
    let config: Descriptor
    let configBytes: [UInt8]
    /// The layers in order; layer `i` holds `files[i]`.
    let layers: [Descriptor]
    let files: [SnapshotFile]

    /// Builds the artifact; `files` carry the digest of their stored bytes.
    init(config snapshot: SnapshotConfig, files hashed: [(file: SnapshotFile, digest: Digest)], options: SnapshotArtifactOptions) throws {
        files = hashed.map(\.file)
        layers = hashed.map { SnapshotArtifact.layer(for: $0.file, digest: $0.digest) }
        let configCreated = options.created ?? Date()
        configBytes = SnapshotArtifact.configBlob(snapshot, files: files, createdAt: configCreated)
        config = Descriptor(mediaType: MediaType.cocoonSnapshotConfig, digest: Digest.compute(configBytes), size: Int64(configBytes.count))
        // epoch reads the clock twice; so does Ferry unless the time is fixed.
        let manifestBytes = SnapshotArtifact.manifest(config: config, layers: layers, options: options, created: options.created ?? Date())
        manifest = try Manifest(bytes: manifestBytes)
    }

    /// The artifact for no selector, `latest`, or its own digest.
    func resolve(_ selector: ManifestSelector?, displayName: String) throws -> Descriptor {
        switch selector {
        case nil, .tag("latest")?:
            return manifest.descriptor
        case .tag(let tag)?:
            throw StorageError(.manifestUnknown, "\(displayName): a snapshot has no tag \(tag) (it is `latest`, or leave the tag out)")
        case .digest(let digest)?:
            guard digest == manifest.digest else { throw StorageError(.manifestUnknown, "\(displayName): no manifest \(digest)") }
            return manifest.descriptor
        }
    }

    /// The bytes of the manifest or the config, which live in memory.
    func document(_ digest: Digest) -> [UInt8]? {
        if digest == manifest.digest { return manifest.bytes }
        if digest == config.digest { return configBytes }
        return nil
    }

    /// The file a layer digest stands for (the first, when two files have the same bytes).
    func file(for digest: Digest) -> SnapshotFile? {
        layers.firstIndex { $0.digest == digest }.map { files[$0] }
    }

    /// The size of the manifest, the config or a layer.
    func size(of digest: Digest) -> Int64? {
        if let bytes = document(digest) { return Int64(bytes.count) }
        return layers.first { $0.digest == digest }?.size
    }

    func contains(_ digest: Digest) -> Bool {
        document(digest) != nil || file(for: digest) != nil
    }
}

/// A place that holds whole artifacts made from files (a snapshot, a disk), where deleting a
/// tag, manifest or blob has no meaning: each delete is refused with the store's reason.
public protocol WholeArtifactStore: Storage {
    /// Why nothing can be deleted here, for the one-line error.
    var deletionRefusal: String { get }
}

extension WholeArtifactStore {
    public func deleteTag(_ tag: String, in repository: String) async throws { try refuseDeletion() }
    public func deleteManifest(_ digest: Digest, in repository: String) async throws { try refuseDeletion() }
    public func deleteBlob(_ digest: Digest, in repository: String) async throws { try refuseDeletion() }

    private func refuseDeletion() throws {
        throw StorageError(.unsupported, "\(displayName): \(deletionRefusal)")
    }
}
