import OCI

/// One artifact to copy: what to pick in the source and where to put it.
public struct CopyRequest: Sendable {
    public var selector: ManifestSelector?
    public var sourceRepository: String
    public var destinationRepository: String
    /// The destination tag; nil stores the artifact untagged (still reachable).
    public var tag: String?

    public init(_ selector: ManifestSelector?, from sourceRepository: String = "", to destinationRepository: String = "", tag: String?) {
        self.selector = selector
        self.sourceRepository = sourceRepository
        self.destinationRepository = destinationRepository
        self.tag = tag
    }
}

/// Everything one copy will write, known before the first blob moves. Sinks that write front to
/// back (tarballs) use it to put the index and manifests first.
public struct CopyPlan: Sendable {
    /// An artifact the copy tags (or keeps untagged) at the destination.
    public struct Root: Sendable {
        public var manifest: Manifest
        public var tag: String?
        public var repository: String
        /// The repository of the source it comes from.
        public var sourceRepository: String = ""
    }

    /// One blob to move, with the repositories it comes from and goes to.
    public struct Blob: Sendable {
        public var descriptor: Descriptor
        public var sourceRepository: String
        public var destinationRepository: String
    }

    /// One manifest to push; `roots` lists the requests it is the artifact of.
    public struct ManifestPush: Sendable {
        public var manifest: Manifest
        public var destinationRepository: String
        public var tags: [String?]
    }

    public private(set) var roots: [Root] = []
    /// Blobs in the order manifests name them, each once per destination repository.
    public private(set) var blobs: [Blob] = []
    /// Manifests, children before the manifests that name them; roots carry their tags.
    public private(set) var manifests: [ManifestPush] = []
    /// Where each blob and manifest already is in the plan, by digest and destination
    /// repository: adding a root costs its own graph, not the plan's size.
    private var plannedBlobs = Set<BlobKey>()
    private var plannedManifests: [BlobKey: Int] = [:]

    /// The total size of the blobs (checked as they are added: it never overflows).
    public private(set) var bytes: Int64 = 0

    public init() {}

    /// Adds one root and the graph under it; fails when the sizes it names add up past Int64.
    mutating func add(_ root: Manifest, graph: ArtifactGraph, request: CopyRequest) throws {
        roots.append(Root(manifest: root, tag: request.tag, repository: request.destinationRepository, sourceRepository: request.sourceRepository))
        for blob in graph.blobs
        where plannedBlobs.insert(BlobKey(digest: blob.digest, repository: request.destinationRepository)).inserted {
            bytes = try Arithmetic.add(bytes, blob.size, what: "manifest \(root.digest)")
            blobs.append(Blob(descriptor: blob, sourceRepository: request.sourceRepository, destinationRepository: request.destinationRepository))
        }
        for manifest in graph.manifests {
            let isRoot = manifest.digest == root.digest
            let key = BlobKey(digest: manifest.digest, repository: request.destinationRepository)
            if let existing = plannedManifests[key] {
                if isRoot { manifests[existing].tags.append(request.tag) }
            } else {
                plannedManifests[key] = manifests.count
                manifests.append(ManifestPush(manifest: manifest, destinationRepository: request.destinationRepository, tags: isRoot ? [request.tag] : []))
            }
        }
    }

    private struct BlobKey: Hashable {
        var digest: Digest
        var repository: String
    }
}

extension CopyRequest {
    /// A request for every artifact a place holds, each keeping its repository and tag; an
    /// untagged root of a layout stays untagged.
    public static func everything(in source: any Storage) async throws -> [CopyRequest] {
        if let inventory = source as? any Inventory {
            return try await inventory.roots().map { root in
                let tag = root.name.hasPrefix("@") ? nil : root.name
                return CopyRequest(.digest(root.descriptor.digest), from: root.repository, to: root.repository, tag: tag)
            }
        }
        var requests: [CopyRequest] = []
        for repository in try await source.repositories() {
            for tag in try await source.tags(in: repository) {
                requests.append(CopyRequest(.tag(tag), from: repository, to: repository, tag: tag))
            }
        }
        return requests
    }
}
