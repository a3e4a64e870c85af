import Foundation
import OCI

/// Something a place stores, as garbage collection sees it.
public struct StoredItem: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case blob
        /// A manifest kept apart from the blobs (an Epoch bucket's by-digest copy), per repository.
        case manifest(repository: String)
    }

    public var kind: Kind
    public var digest: Digest
    public var size: Int64
    /// When it was last written or relied upon by a copy.
    public var modified: Date

    public init(kind: Kind, digest: Digest, size: Int64, modified: Date) {
        self.kind = kind
        self.digest = digest
        self.size = size
        self.modified = modified
    }
}

/// A place whose unreferenced content can be collected.
public protocol Collectable: Inventory {
    /// Everything stored, with its age.
    func storedItems() async throws -> [StoredItem]
    /// Removes one item.
    func remove(_ item: StoredItem) async throws
    /// Runs `body` under the lock that writers take to store a manifest and that `abort()`
    /// takes to remove what a failed copy wrote; places without one just run it.
    func excludingWriters<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T
    /// Removes the temporary files of writers that were killed (never a live writer's); returns
    /// how many.
    func sweepTemporaryFiles() async throws -> Int
}

extension Collectable {
    public func excludingWriters<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T { try await body() }
    public func sweepTemporaryFiles() async throws -> Int { 0 }
}

/// What a collection found (and removed, unless it was a dry run).
public struct CollectionReport: Sendable {
    public var garbage: [StoredItem] = []
    /// Unreferenced, but younger than the grace period.
    public var spared: [StoredItem] = []
    /// Temporary files of killed writers that were removed.
    public var temporaryFiles = 0
    public var bytes: Int64 { garbage.reduce(0) { $0 + $1.size } }
}

/// Removes blobs and manifests that no root reaches. It never removes what a root reaches: if
/// any manifest under a root cannot be read, nothing is removed. Content younger than `grace`
/// stays, and the roots are walked a second time just before removal, so a copy running at the
/// same time keeps what it wrote and what it relied on (copies refresh the time of the blobs
/// they skip).
public struct GarbageCollector: Sendable {
    public var grace: TimeInterval

    public init(grace: TimeInterval = 3600) {
        self.grace = grace
    }

    public func collect(_ store: any Collectable, dryRun: Bool, now: Date = Date()) async throws -> CollectionReport {
        var report = CollectionReport()
        if !dryRun { report.temporaryFiles = try await store.sweepTemporaryFiles() }
        let items = try await store.storedItems()
        let reachable = try await store.reachableDigests()
        for item in items where !reachable.contains(item.digest) {
            if now.timeIntervalSince(item.modified) < grace {
                report.spared.append(item)
            } else {
                report.garbage.append(item)
            }
        }
        guard !dryRun, !report.garbage.isEmpty else { return report }
        let candidates = report.garbage
        // The second walk and the removal exclude writers: a manifest tagged meanwhile is seen.
        report.garbage = try await store.excludingWriters {
            let reachable = try await store.reachableDigests()
            let garbage = candidates.filter { !reachable.contains($0.digest) }
            // Manifests first: a blob goes only after whatever named it.
            for item in garbage.sorted(by: { ($0.kind == .blob ? 1 : 0) < ($1.kind == .blob ? 1 : 0) }) {
                try await store.remove(item)
            }
            return garbage
        }
        return report
    }
}

extension Inventory {
    /// Every digest the roots reach: manifests, children, configs, layers. Fails, naming the
    /// root, when any manifest under a root cannot be read whole: then nothing may be removed.
    public func reachableDigests() async throws -> Set<Digest> {
        var reached = Set<Digest>()
        for root in try await roots() {
            let graph: ArtifactGraph
            do {
                let endpoint = CopyEndpoint(self, repository: root.repository)
                graph = try await ArtifactGraph.walk(try await fetchManifest(root.descriptor, in: root.repository), in: endpoint)
            } catch {
                throw StorageError(.manifestInvalid, "\(displayName): nothing removed: \(root.name) cannot be read whole (\(error))")
            }
            reached.formUnion(graph.manifests.map(\.digest))
            reached.formUnion(graph.blobs.map(\.digest))
        }
        return reached
    }
}
