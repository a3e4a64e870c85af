import OCI

/// The seam between the copy engine and every place content lives. A backend implements it once
/// and then works with every other backend as source or destination.
///
/// `repository` names a repository of the place; places without names (a layout's bare tags)
/// use the empty string.
public protocol Storage: Sendable {
    /// How the place appears in messages, e.g. `oci:/srv/layout`.
    var displayName: String { get }

    /// Resolves a tag or digest to the descriptor of a manifest. With no selector, the place's
    /// only manifest, or an error that names the choices.
    func resolve(_ selector: ManifestSelector?, in repository: String) async throws -> Descriptor

    /// The content a descriptor names, blob or manifest, as a stream of chunks. The caller
    /// verifies what it reads against the descriptor.
    func fetch(_ descriptor: Descriptor, in repository: String) async throws -> ByteStream

    /// The size of a stored blob (or manifest, by digest), found without reading its bytes; nil
    /// when it is not there. What a registry answers `HEAD` with.
    func blobSize(_ digest: Digest, in repository: String) async throws -> Int64?

    /// Bytes `range` of the content a descriptor names (a registry's `Range` request). Stores
    /// that read files or objects at an offset start there; the default reads from the start.
    func fetch(_ descriptor: Descriptor, range: Range<Int64>, in repository: String) async throws -> ByteStream

    /// Whether a blob is present.
    func blobExists(_ digest: Digest, in repository: String) async throws -> Bool

    /// Whether a manifest is present (by digest).
    func manifestExists(_ digest: Digest, in repository: String) async throws -> Bool

    /// A copy relies on this existing blob instead of writing it. Stores that collect garbage
    /// refresh its age, so that `ferry gc` spares it for its grace period.
    func markInUse(_ digest: Digest, in repository: String) async

    /// Stores a blob, verifying digest and size while it streams. Fails with `DIGEST_INVALID` or
    /// `SIZE_INVALID` and stores nothing when the bytes do not match the descriptor.
    func pushBlob(_ descriptor: Descriptor, from stream: ByteStream, in repository: String) async throws

    /// Stores a manifest by its digest. A root stays reachable (a layout lists it in
    /// `index.json`) and gets its tag when one is given.
    func pushManifest(_ manifest: Manifest, as target: ManifestTarget, in repository: String) async throws

    /// The repositories the place holds.
    func repositories() async throws -> [String]

    /// The tags of one repository.
    func tags(in repository: String) async throws -> [String]

    /// Removes a tag; the manifest it named stays.
    func deleteTag(_ tag: String, in repository: String) async throws

    /// Removes a manifest and every tag that names it.
    func deleteManifest(_ digest: Digest, in repository: String) async throws

    /// Removes a blob.
    func deleteBlob(_ digest: Digest, in repository: String) async throws

    /// Whether blobs must arrive one at a time, in the graph's order (a tarball being written):
    /// the engine then copies with one job so that the output is reproducible.
    var wantsSequentialBlobs: Bool { get }

    /// Told the whole plan before any blob is pushed. A tarball writes its index and manifests
    /// first, so that a streaming reader knows the graph before the layers arrive.
    func willCopy(_ plan: CopyPlan) async throws

    /// Makes everything pushed so far final. Places that write through (directories, buckets)
    /// have nothing to do; a tarball is completed and renamed into place here.
    func commit() async throws

    /// Called after a failed copy: undoes what can be undone, so that a destination that did not
    /// exist before the copy does not exist after it.
    func abort() async
}

extension Storage {
    public var wantsSequentialBlobs: Bool { false }
    public func markInUse(_ digest: Digest, in repository: String) async {}
    public func willCopy(_ plan: CopyPlan) async throws {}
    public func commit() async throws {}
    public func abort() async {}

    public func fetch(_ descriptor: Descriptor, range: Range<Int64>, in repository: String) async throws -> ByteStream {
        try await fetch(descriptor, in: repository).slice(range)
    }

    /// Fetches a manifest, checks its size and digest against the descriptor, and parses it.
    public func fetchManifest(_ descriptor: Descriptor, in repository: String) async throws -> Manifest {
        guard descriptor.size <= Int64(Manifest.maximumSize) else {
            throw StorageError(.manifestInvalid, "manifest \(descriptor.digest): \(descriptor.size) bytes is over the \(Manifest.maximumSize >> 20) MiB limit")
        }
        let bytes = try await fetch(descriptor, in: repository).verifying(descriptor)
            .collect(upTo: Int(descriptor.size), what: "manifest \(descriptor.digest)")
        do {
            return try Manifest(bytes: bytes, declaredType: descriptor.mediaType, digestAlgorithm: descriptor.digest.algorithm)
        } catch let error as ValidationError {
            throw StorageError(.manifestInvalid, error.description)
        }
    }
}

extension Storage {
    /// Resolves `selector` and fetches the manifest, holding the place to its promise: the
    /// manifest found for a digest must be that digest, and its bytes must hash to it. Every
    /// reader of a reference (copy, inspect, verify) goes through this one check.
    public func resolveManifest(_ selector: ManifestSelector?, in repository: String) async throws -> Manifest {
        let descriptor = try await resolve(selector, in: repository)
        if case .digest(let wanted) = selector, descriptor.digest != wanted {
            throw StorageError(.digestInvalid, "\(displayName): asked for \(wanted), the place answered with \(descriptor.digest)")
        }
        return try await fetchManifest(descriptor, in: repository)
    }
}

/// What a pushed manifest is to the copy that pushes it.
public enum ManifestTarget: Sendable, Equatable {
    /// Named by another manifest of the same copy: stored by digest only.
    case child
    /// The artifact itself, tagged when a tag is given.
    case root(tag: String?)
}

/// A source whose blobs are cheapest read in its own order, in one pass: a compressed archive.
public protocol SequentialSource: Storage {
    /// Whether the engine should read this source in one pass rather than fetch blobs freely.
    func prefersOnePass() async throws -> Bool

    /// Streams each of `blobs` once, in the source's own order, handing its bytes to `body`,
    /// which consumes the stream before the next blob is read.
    func streamBlobs(_ blobs: [Descriptor], in repository: String, to body: @Sendable (Descriptor, ByteStream) async throws -> Void) async throws
}

/// A place that can list everything it stores, not only what tags reach: what `ferry verify`
/// of a whole location and `ferry gc` need.
public protocol Inventory: Storage {
    /// Every top-level manifest with the name it is known by (a tag, or its digest when untagged).
    func roots() async throws -> [(name: String, repository: String, descriptor: Descriptor)]

    /// Every stored blob (manifests included), with the size it has in the store.
    func storedBlobs() async throws -> [(digest: Digest, size: Int64)]
}
