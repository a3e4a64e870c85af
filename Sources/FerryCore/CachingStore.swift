import Foundation
import OCI
import Synchronization

/// A pull-through cache (`ferry serve --cache C UPSTREAM`): what is asked of `upstream` is
/// answered from it at once and copied into `cache` by the copy engine (verified, as every
/// copy), tag included; content the cache holds is served from there. When the upstream cannot
/// be reached, tags and content come from the cache alone, so what was pulled once can be
/// pulled offline. Pushes go to the upstream.
public final class CachingStore: Storage {
    public let upstream: any Storage
    public let cache: any Storage
    private let pending = Mutex<[String: Task<Void, Never>]>([:])
    private let failures: @Sendable (String) -> Void

    /// `failures` hears why a copy into the cache failed (the request it served did not).
    public init(upstream: any Storage, cache: any Storage, failures: @escaping @Sendable (String) -> Void = { _ in }) {
        self.upstream = upstream
        self.cache = cache
        self.failures = failures
    }

    public var displayName: String { upstream.displayName }

    /// Whether an error says the upstream could not answer at all (rather than "not here" or
    /// "not allowed"): then the cache answers instead.
    private static func isUnreachable(_ error: any Error) -> Bool {
        guard let error = error as? StorageError else { return !(error is CancellationError) }
        return ![.manifestUnknown, .blobUnknown, .nameUnknown, .nameInvalid, .denied, .unauthorized, .manifestInvalid, .digestInvalid].contains(error.code)
    }

    public func resolve(_ selector: ManifestSelector?, in repository: String) async throws -> Descriptor {
        let descriptor: Descriptor
        do {
            descriptor = try await upstream.resolve(selector, in: repository)
        } catch where Self.isUnreachable(error) {
            return try await cache.resolve(selector, in: repository)
        }
        keep(descriptor, as: selector, in: repository)
        return descriptor
    }

    /// Copies an artifact the upstream served into the cache, once, in the background.
    private func keep(_ descriptor: Descriptor, as selector: ManifestSelector?, in repository: String) {
        guard descriptor.isManifest else { return }
        let tag: String? = if case .tag(let tag)? = selector { tag } else { nil }
        let key = "\(repository)@\(descriptor.digest):\(tag ?? "")"
        pending.withLock { tasks in
            guard tasks[key] == nil else { return }
            tasks[key] = Task {
                do {
                    let engine = CopyEngine(options: CopyOptions(jobs: 2, allPlatforms: true))
                    _ = try await engine.copy(from: CopyEndpoint(upstream, repository: repository), .digest(descriptor.digest),
                                              to: CopyEndpoint(cache, repository: repository), tag: tag)
                } catch {
                    failures("caching \(repository)@\(descriptor.digest): \(error)")
                    // Asked again, it is tried again.
                    _ = self.pending.withLock { $0.removeValue(forKey: key) }
                }
            }
        }
    }

    /// Waits for the copies into the cache started so far (tests; a server stopping).
    public func settle() async {
        for task in pending.withLock({ Array($0.values) }) { await task.value }
    }

    private func cached(_ descriptor: Descriptor, in repository: String) async -> Bool {
        let found = descriptor.isManifest
            ? try? await cache.manifestExists(descriptor.digest, in: repository)
            : try? await cache.blobExists(descriptor.digest, in: repository)
        return found ?? false
    }

    public func fetch(_ descriptor: Descriptor, in repository: String) async throws -> ByteStream {
        if await cached(descriptor, in: repository) { return try await cache.fetch(descriptor, in: repository) }
        return try await upstream.fetch(descriptor, in: repository)
    }

    public func fetch(_ descriptor: Descriptor, range: Range<Int64>, in repository: String) async throws -> ByteStream {
        if await cached(descriptor, in: repository) { return try await cache.fetch(descriptor, range: range, in: repository) }
        return try await upstream.fetch(descriptor, range: range, in: repository)
    }

    public func blobSize(_ digest: Digest, in repository: String) async throws -> Int64? {
        if let size = try? await cache.blobSize(digest, in: repository) { return size }
        return try await upstream.blobSize(digest, in: repository)
    }

    public func blobExists(_ digest: Digest, in repository: String) async throws -> Bool {
        if (try? await cache.blobExists(digest, in: repository)) == true { return true }
        return try await upstream.blobExists(digest, in: repository)
    }

    public func manifestExists(_ digest: Digest, in repository: String) async throws -> Bool {
        if (try? await cache.manifestExists(digest, in: repository)) == true { return true }
        return try await upstream.manifestExists(digest, in: repository)
    }

    public func repositories() async throws -> [String] {
        do { return try await upstream.repositories() } catch where Self.isUnreachable(error) { return try await cache.repositories() }
    }

    public func tags(in repository: String) async throws -> [String] {
        do { return try await upstream.tags(in: repository) } catch where Self.isUnreachable(error) { return try await cache.tags(in: repository) }
    }

    public func pushBlob(_ descriptor: Descriptor, from stream: ByteStream, in repository: String) async throws {
        try await upstream.pushBlob(descriptor, from: stream, in: repository)
    }
    public func pushManifest(_ manifest: Manifest, as target: ManifestTarget, in repository: String) async throws {
        try await upstream.pushManifest(manifest, as: target, in: repository)
    }
    public func deleteTag(_ tag: String, in repository: String) async throws { try await upstream.deleteTag(tag, in: repository) }
    public func deleteManifest(_ digest: Digest, in repository: String) async throws { try await upstream.deleteManifest(digest, in: repository) }
    public func deleteBlob(_ digest: Digest, in repository: String) async throws { try await upstream.deleteBlob(digest, in: repository) }
    public func willCopy(_ plan: CopyPlan) async throws { try await upstream.willCopy(plan) }
    public func commit() async throws { try await upstream.commit() }
    public func abort() async { await upstream.abort() }
}
