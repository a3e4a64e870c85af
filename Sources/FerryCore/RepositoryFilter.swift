import OCI

/// A place seen through a prefix (`--only PREFIX`): only the repositories named `PREFIX` or
/// `PREFIX/…` are there; any other is unknown, for reads and writes alike.
public final class RepositoryFilter: Storage {
    public let inner: any Storage
    public let prefix: String

    public init(_ inner: any Storage, prefix: String) {
        self.inner = inner
        self.prefix = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
    }

    public var displayName: String { inner.displayName }

    private func allowed(_ repository: String) -> Bool {
        repository == prefix || repository.hasPrefix(prefix + "/")
    }

    /// Runs `body` for a repository under the prefix; any other is `NAME_UNKNOWN`.
    private func within<T>(_ repository: String, _ body: () async throws -> T) async throws -> T {
        guard allowed(repository) else { throw StorageError(.nameUnknown, "\(displayName): no repository \(repository) under \(prefix)") }
        return try await body()
    }

    public func resolve(_ selector: ManifestSelector?, in repository: String) async throws -> Descriptor {
        try await within(repository) { try await inner.resolve(selector, in: repository) }
    }
    public func fetch(_ descriptor: Descriptor, in repository: String) async throws -> ByteStream {
        try await within(repository) { try await inner.fetch(descriptor, in: repository) }
    }
    public func fetch(_ descriptor: Descriptor, range: Range<Int64>, in repository: String) async throws -> ByteStream {
        try await within(repository) { try await inner.fetch(descriptor, range: range, in: repository) }
    }
    public func blobSize(_ digest: Digest, in repository: String) async throws -> Int64? {
        allowed(repository) ? try await inner.blobSize(digest, in: repository) : nil
    }
    public func blobExists(_ digest: Digest, in repository: String) async throws -> Bool {
        allowed(repository) ? try await inner.blobExists(digest, in: repository) : false
    }
    public func manifestExists(_ digest: Digest, in repository: String) async throws -> Bool {
        allowed(repository) ? try await inner.manifestExists(digest, in: repository) : false
    }
    public func pushBlob(_ descriptor: Descriptor, from stream: ByteStream, in repository: String) async throws {
        try await within(repository) { try await inner.pushBlob(descriptor, from: stream, in: repository) }
    }
    public func pushManifest(_ manifest: Manifest, as target: ManifestTarget, in repository: String) async throws {
        try await within(repository) { try await inner.pushManifest(manifest, as: target, in: repository) }
    }
    public func repositories() async throws -> [String] { try await inner.repositories().filter(allowed) }
    public func tags(in repository: String) async throws -> [String] {
        try await within(repository) { try await inner.tags(in: repository) }
    }
    public func deleteTag(_ tag: String, in repository: String) async throws {
        try await within(repository) { try await inner.deleteTag(tag, in: repository) }
    }
    public func deleteManifest(_ digest: Digest, in repository: String) async throws {
        try await within(repository) { try await inner.deleteManifest(digest, in: repository) }
    }
    public func deleteBlob(_ digest: Digest, in repository: String) async throws {
        try await within(repository) { try await inner.deleteBlob(digest, in: repository) }
    }
    public var wantsSequentialBlobs: Bool { inner.wantsSequentialBlobs }
    public func willCopy(_ plan: CopyPlan) async throws {
        for root in plan.roots where !allowed(root.repository) {
            throw StorageError(.nameUnknown, "\(displayName): no repository \(root.repository) under \(prefix)")
        }
        try await inner.willCopy(plan)
    }
    public func commit() async throws { try await inner.commit() }
    public func abort() async { await inner.abort() }
}
