import Dispatch
import OCI

/// How a copy chooses and moves content.
public struct CopyOptions: Sendable {
    /// Blobs in flight at once.
    public var jobs: Int
    /// The platform to pick from an index; nil means the host's.
    public var platform: Platform?
    /// Copy every child of an index instead of picking one platform.
    public var allPlatforms: Bool

    public init(jobs: Int = 4, platform: Platform? = nil, allPlatforms: Bool = false) {
        self.jobs = max(1, jobs)
        self.platform = platform
        self.allPlatforms = allPlatforms
    }
}

/// One side of a copy: a place and the repository in it.
public struct CopyEndpoint: Sendable {
    public var storage: any Storage
    public var repository: String

    public init(_ storage: any Storage, repository: String = "") {
        self.storage = storage
        self.repository = repository
    }
}

/// Copies an artifact and everything it names between two stores: children before the manifest
/// that names them, the tag last; blobs the destination has are never read; every byte read is
/// verified by the destination's push before it becomes visible.
public struct CopyEngine: Sendable {
    public let options: CopyOptions
    private let report: @Sendable (CopyEvent) -> Void

    public init(options: CopyOptions = CopyOptions(), events: @escaping @Sendable (CopyEvent) -> Void = { _ in }) {
        self.options = options
        self.report = events
    }

    /// Copies what `selector` names in `source` to `destination`, tagging it `tag` there.
    @discardableResult
    public func copy(
        from source: CopyEndpoint, _ selector: ManifestSelector?, to destination: CopyEndpoint, tag: String?
    ) async throws -> CopyResult {
        let start = DispatchTime.now()
        let resolved = try await source.storage.resolve(selector, in: source.repository)
        let root = try await selectPlatform(
            try await source.storage.fetchManifest(resolved, in: source.repository), in: source)
        let graph = try await ArtifactGraph.walk(root, in: source)
        var result = CopyResult(root: root.descriptor, kind: root.kind, tag: tag, manifests: graph.manifests.count)
        report(.planned(root: root.descriptor, kind: root.kind, manifests: graph.manifests.count,
                        blobs: graph.blobs.count, bytes: graph.blobs.reduce(0) { $0 + $1.size }))
        do {
            try await destination.storage.willCopy(graph)
            try await copyBlobs(graph.blobs, from: source, to: destination, into: &result)
            for manifest in graph.manifests.dropLast() {
                try await pushManifest(manifest, as: .child, to: destination)
            }
            try await pushManifest(root, as: .root(tag: tag), to: destination)
            try await destination.storage.commit()
        } catch {
            await destination.storage.abort()
            throw error
        }
        result.seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        report(.finished(result))
        return result
    }

    /// Without `allPlatforms`, an index whose children carry platforms is replaced by the child
    /// for the wanted platform (as skopeo does); an index of children without platforms is kept.
    private func selectPlatform(_ manifest: Manifest, in source: CopyEndpoint) async throws -> Manifest {
        guard manifest.isIndex, !options.allPlatforms else { return manifest }
        let children = manifest.manifests
        let offered = children.compactMap(\.platform)
        guard !offered.isEmpty else { return manifest }
        let wanted = options.platform ?? .host
        guard let child = children.first(where: { $0.platform.map(wanted.matches) ?? false }) else {
            let list = Set(offered.map(\.description)).sorted().joined(separator: ", ")
            throw StorageError(.manifestUnknown, "index \(manifest.digest) has no image for \(wanted) (it has \(list); use --platform or --all)")
        }
        return try await selectPlatform(try await source.storage.fetchManifest(child, in: source.repository), in: source)
    }

    private func pushManifest(_ manifest: Manifest, as target: ManifestTarget, to destination: CopyEndpoint) async throws {
        if target == .child, try await destination.storage.manifestExists(manifest.digest, in: destination.repository) {
            report(.manifestSkipped(manifest.descriptor))
            return
        }
        try await destination.storage.pushManifest(manifest, as: target, in: destination.repository)
        var tag: String?
        if case .root(let rootTag) = target { tag = rootTag }
        report(.manifestPushed(manifest.descriptor, tag: tag))
    }

    private enum BlobOutcome: Sendable {
        case skipped(Int64)
        case copied(Int64)
    }

    /// Moves blobs `jobs` at a time, largest first, so small blobs fill the gaps and the slowest
    /// one does not start last. A sequential sink gets them one by one in the graph's order.
    private func copyBlobs(
        _ blobs: [Descriptor], from source: CopyEndpoint, to destination: CopyEndpoint, into result: inout CopyResult
    ) async throws {
        let sequential = destination.storage.wantsSequentialBlobs
        var pending = (sequential ? blobs : blobs.sorted { $0.size > $1.size })[...]
        try await withThrowingTaskGroup(of: BlobOutcome.self) { group in
            func startNext() {
                guard let blob = pending.popFirst() else { return }
                group.addTask { try await self.copyBlob(blob, from: source, to: destination) }
            }
            for _ in 0..<(sequential ? 1 : options.jobs) { startNext() }
            while let outcome = try await group.next() {
                switch outcome {
                case .skipped(let size):
                    result.blobsSkipped += 1
                    result.bytesSkipped += size
                case .copied(let size):
                    result.blobsCopied += 1
                    result.bytesCopied += size
                }
                startNext()
            }
        }
    }

    private func copyBlob(_ blob: Descriptor, from source: CopyEndpoint, to destination: CopyEndpoint) async throws -> BlobOutcome {
        if try await destination.storage.blobExists(blob.digest, in: destination.repository) {
            report(.blobSkipped(blob))
            return .skipped(blob.size)
        }
        report(.blobStarted(blob))
        let counter = ByteCounter()
        let report = self.report
        let stream = try await source.storage.fetch(blob, in: source.repository).observing { chunk in
            report(.blobProgress(blob, bytes: counter.add(chunk.count)))
        }
        do {
            try await destination.storage.pushBlob(blob, from: stream, in: destination.repository)
        } catch let error as StorageError where error.code == .digestInvalid || error.code == .sizeInvalid {
            // The bytes came from the source: say so.
            throw StorageError(error.code, "\(source.storage.displayName): blob \(error.message)")
        }
        report(.blobCopied(blob))
        return .copied(blob.size)
    }
}

/// Counts the bytes of one blob as its chunks pass, one at a time.
private final class ByteCounter: @unchecked Sendable {
    private var total: Int64 = 0
    func add(_ count: Int) -> Int64 {
        total += Int64(count)
        return total
    }
}
