import OCI

/// Everything one artifact names: its manifests, children before parents with the root last,
/// and its blobs, each once.
public struct ArtifactGraph: Sendable {
    public var manifests: [Manifest] = []
    public var blobs: [Descriptor] = []

    /// Fetches and verifies every manifest reachable from `root`, every child of every index.
    public static func walk(_ root: Manifest, in source: CopyEndpoint) async throws -> ArtifactGraph {
        var graph = ArtifactGraph()
        var seenManifests = Set<Digest>()
        var seenBlobs = Set<Digest>()
        try await graph.visit(root, in: source, seenManifests: &seenManifests, seenBlobs: &seenBlobs, depth: 0)
        return graph
    }

    private mutating func visit(
        _ manifest: Manifest, in source: CopyEndpoint, seenManifests: inout Set<Digest>, seenBlobs: inout Set<Digest>, depth: Int
    ) async throws {
        guard depth < 8 else {
            throw StorageError(.manifestInvalid, "manifest \(manifest.digest): indexes nested more than 8 deep")
        }
        guard seenManifests.insert(manifest.digest).inserted else { return }
        for child in manifest.manifests {
            let childManifest = try await source.storage.fetchManifest(child, in: source.repository)
            try await visit(childManifest, in: source, seenManifests: &seenManifests, seenBlobs: &seenBlobs, depth: depth + 1)
        }
        for blob in manifest.blobs where seenBlobs.insert(blob.digest).inserted {
            blobs.append(blob)
        }
        manifests.append(manifest)
    }
}
