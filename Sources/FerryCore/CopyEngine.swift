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
    /// Also copy what refers to the copied manifests (signatures, SBOMs, attestations), and what
    /// refers to those.
    public var referrers: Bool

    public init(jobs: Int = 4, platform: Platform? = nil, allPlatforms: Bool = false, referrers: Bool = false) {
        self.jobs = max(1, jobs)
        self.platform = platform
        self.allPlatforms = allPlatforms
        self.referrers = referrers
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
        try await copy([CopyRequest(selector, from: source.repository, to: destination.repository, tag: tag)],
                       from: source.storage, to: destination.storage)
    }

    /// Copies several artifacts in one go (a whole layout, archive or bucket): one plan, each blob
    /// moved once, one pass over a source that must be read in order.
    @discardableResult
    public func copy(_ requests: [CopyRequest], from source: any Storage, to destination: any Storage) async throws -> CopyResult {
        let start = DispatchTime.now()
        var plan = CopyPlan()
        for request in requests {
            let endpoint = CopyEndpoint(source, repository: request.sourceRepository)
            let root = try await selectPlatform(try await source.resolveManifest(request.selector, in: request.sourceRepository), in: endpoint)
            try plan.add(root, graph: try await ArtifactGraph.walk(root, in: endpoint), request: request)
        }
        guard let last = plan.roots.last else { throw StorageError(.nameUnknown, "\(source.displayName): nothing to copy") }
        if options.referrers { try await addReferrers(to: &plan, from: source) }
        var result = CopyResult(root: last.manifest.descriptor, kind: last.manifest.kind, tag: last.tag, manifests: plan.manifests.count)
        result.tagged = plan.roots.map { ($0.tag, $0.manifest.descriptor) }
        report(.planned(root: last.manifest.descriptor, kind: last.manifest.kind, manifests: plan.manifests.count,
                        blobs: plan.blobs.count, bytes: plan.bytes))
        do {
            try await destination.willCopy(plan)
            try await copyBlobs(plan.blobs, from: source, to: destination, into: &result)
            for push in plan.manifests {
                if push.tags.isEmpty {
                    try await pushManifest(push.manifest, as: .child, to: CopyEndpoint(destination, repository: push.destinationRepository))
                }
                for tag in push.tags {
                    try await pushManifest(push.manifest, as: .root(tag: tag), to: CopyEndpoint(destination, repository: push.destinationRepository))
                }
            }
            try await destination.commit()
        } catch {
            // Undone in a task of its own: a copy cancelled by an interrupt still cleans up
            // (its own requests and I/O would otherwise see the cancellation too).
            await Task { await destination.abort() }.value
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

    /// Moves blobs `jobs` at a time, largest first, so small blobs fill the gaps and the slowest
    /// one does not start last. A sequential sink gets them one by one in the plan's order; a
    /// source that must be read in order is read in one pass.
    private func copyBlobs(
        _ blobs: [CopyPlan.Blob], from source: any Storage, to destination: any Storage, into result: inout CopyResult
    ) async throws {
        if let ordered = source as? any SequentialSource, try await ordered.prefersOnePass() {
            try await copyInOnePass(blobs, from: ordered, to: destination, into: &result)
            return
        }
        let sequential = destination.wantsSequentialBlobs
        var pending = (sequential ? blobs : blobs.sorted { $0.descriptor.size > $1.descriptor.size })[...]
        try await withThrowingTaskGroup(of: BlobOutcome.self) { group in
            func startNext() {
                guard let blob = pending.popFirst() else { return }
                group.addTask {
                    if try await destination.blobExists(blob.descriptor.digest, in: blob.destinationRepository) {
                        await destination.markInUse(blob.descriptor.digest, in: blob.destinationRepository)
                        self.report(.blobSkipped(blob.descriptor))
                        return .skipped(blob.descriptor.size)
                    }
                    let stream = try await source.fetch(blob.descriptor, in: blob.sourceRepository)
                    try await self.push(blob, from: stream, sourceName: source.displayName, to: destination)
                    return .copied(blob.descriptor.size)
                }
            }
            for _ in 0..<(sequential ? 1 : options.jobs) { startNext() }
            while let outcome = try await group.next() {
                result.tally(outcome)
                startNext()
            }
        }
    }

    /// Asks the destination first, then streams the missing blobs in the source's own order.
    private func copyInOnePass(
        _ blobs: [CopyPlan.Blob], from source: any SequentialSource, to destination: any Storage, into result: inout CopyResult
    ) async throws {
        // Grouped by source repository in the plan's order, never a dictionary's: a sequential
        // sink writes what it gets in the order it gets it.
        var missing: [(repository: String, blobs: [CopyPlan.Blob])] = []
        var positions: [String: Int] = [:]
        for blob in blobs {
            if try await destination.blobExists(blob.descriptor.digest, in: blob.destinationRepository) {
                await destination.markInUse(blob.descriptor.digest, in: blob.destinationRepository)
                report(.blobSkipped(blob.descriptor))
                result.tally(.skipped(blob.descriptor.size))
            } else if let index = positions[blob.sourceRepository] {
                missing[index].blobs.append(blob)
            } else {
                positions[blob.sourceRepository] = missing.count
                missing.append((blob.sourceRepository, [blob]))
            }
        }
        for (repository, group) in missing {
            let byDigest = Dictionary(group.map { ($0.descriptor.digest, $0) }, uniquingKeysWith: { first, _ in first })
            let sourceName = source.displayName
            try await source.streamBlobs(group.map(\.descriptor), in: repository) { descriptor, stream in
                guard let blob = byDigest[descriptor.digest] else { return }
                try await self.push(blob, from: stream, sourceName: sourceName, to: destination)
            }
            for blob in group { result.tally(.copied(blob.descriptor.size)) }
        }
    }

    /// Pushes one blob's bytes, reporting progress; a digest or size mismatch is the source's.
    private func push(_ blob: CopyPlan.Blob, from stream: ByteStream, sourceName: String, to destination: any Storage) async throws {
        let descriptor = blob.descriptor
        report(.blobStarted(descriptor))
        let counter = ByteCounter()
        let report = self.report
        let counted = stream.verifying(descriptor).prefetching().observing { chunk in report(.blobProgress(descriptor, bytes: counter.add(chunk.count))) }
        do {
            try await destination.pushBlob(descriptor, from: counted, in: blob.destinationRepository)
        } catch let error as StorageError where error.code == .digestInvalid || error.code == .sizeInvalid {
            throw StorageError(error.code, "\(sourceName): blob \(error.message)")
        }
        report(.blobCopied(descriptor))
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
