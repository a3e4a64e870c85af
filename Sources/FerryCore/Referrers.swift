import OCI

/// A place that can say which manifests refer to a manifest through their `subject` (OCI 1.1):
/// signatures, SBOMs, attestations. A registry asks its referrers API (or the tag-schema
/// fallback); any `Inventory` is scanned.
public protocol ReferrerListing: Storage {
    /// The descriptors of the manifests whose `subject` is `digest`.
    func referrers(of digest: Digest, in repository: String) async throws -> [Descriptor]
}

/// The referrers of manifests in one source, found once per copy (or per request of a server): a
/// scanned inventory is read once however many subjects are asked about.
public actor ReferrerFinder {
    private let source: any Storage
    private var scanned: [String: [Digest: [Descriptor]]] = [:]

    public init(_ source: any Storage) {
        self.source = source
    }

    /// The descriptors of the manifests whose `subject` is `digest`.
    public func referrers(of digest: Digest, in repository: String) async throws -> [Descriptor] {
        if let listing = source as? any ReferrerListing {
            return try await listing.referrers(of: digest, in: repository)
        }
        guard let inventory = source as? any Inventory else { return [] }
        if scanned[repository] == nil {
            var found: [Digest: [Descriptor]] = [:]
            for root in try await inventory.roots() where root.repository == repository && root.descriptor.isManifest {
                let manifest = try await inventory.fetchManifest(root.descriptor, in: repository)
                if let subject = manifest.subject { found[subject.digest, default: []].append(manifest.referrerDescriptor) }
            }
            scanned[repository] = found
        }
        return scanned[repository]?[digest] ?? []
    }
}

extension CopyEngine {
    /// Adds to `plan` every manifest that refers to one already in it, and what refers to those,
    /// each stored untagged beside its subject.
    func addReferrers(to plan: inout CopyPlan, from source: any Storage) async throws {
        let finder = ReferrerFinder(source)
        var pending = plan.manifests.map { (digest: $0.manifest.digest, push: $0) }
        var planned = Set(plan.manifests.map(\.manifest.digest))
        var sourceRepositories: [String: String] = [:]
        for root in plan.roots { sourceRepositories[root.repository] = sourceRepositories[root.repository] ?? root.sourceRepository }
        while let (digest, push) = pending.popLast() {
            let sourceRepository = sourceRepositories[push.destinationRepository] ?? ""
            for referrer in try await finder.referrers(of: digest, in: sourceRepository) where planned.insert(referrer.digest).inserted {
                let endpoint = CopyEndpoint(source, repository: sourceRepository)
                let manifest = try await source.resolveManifest(.digest(referrer.digest), in: sourceRepository)
                let graph = try await ArtifactGraph.walk(manifest, in: endpoint)
                try plan.add(manifest, graph: graph,
                             request: CopyRequest(.digest(referrer.digest), from: sourceRepository, to: push.destinationRepository, tag: nil))
                for added in graph.manifests where added.digest != digest {
                    planned.insert(added.digest)
                    pending.append((added.digest, CopyPlan.ManifestPush(manifest: added, destinationRepository: push.destinationRepository, tags: [])))
                }
            }
        }
    }
}
