import FerryCore
import Foundation
import OCI

extension EpochStore {
    /// Checks, before anything is written, every name the plan writes and the catalog it will
    /// update: a bad name or a corrupt `catalog.json` fails the copy before its first blob.
    public func willCopy(_ plan: CopyPlan) async throws {
        for push in plan.manifests { try validate(push.destinationRepository) }
        for root in plan.roots {
            if let tag = root.tag, !Names.isValidTag(tag) {
                throw StorageError(.nameInvalid, "\(displayName): '\(tag)' is not a valid tag")
            }
        }
        if plan.roots.contains(where: { $0.tag != nil }) { _ = try await readCatalog() }
        _ = try await objects.sweepTemporaryFiles()
    }

    /// A blob that exists is skipped (epoch's HEAD first); otherwise it is verified while it
    /// streams, and the object appears only once digest and size match.
    public func pushBlob(_ descriptor: Descriptor, from stream: ByteStream, in repository: String) async throws {
        if try await blobExists(descriptor.digest, in: repository) { return }
        let key = blobKey(descriptor.digest)
        try await objects.put(key, from: stream.verifying(descriptor), size: descriptor.size)
        try await remember(key)
    }

    /// A blob made from an object already in the bucket (an upload spool, verified by the
    /// caller), copied inside the bucket; one that exists is skipped.
    func pushBlob(_ descriptor: Descriptor, copyingObject source: String, using s3: S3ObjectStore, in repository: String) async throws {
        if try await blobExists(descriptor.digest, in: repository) { return }
        let key = blobKey(descriptor.digest)
        try await s3.copyObject(from: source, to: key, size: descriptor.size)
        try await remember(key)
    }

    /// Under the store's lock (the one `abort()` and `ferry gc` take), and only when everything
    /// the manifest names is present: by tag, the by-digest copy first, then the tag object,
    /// then the catalog (with the tags stored since its last update, when that is a second old
    /// or more; the rest when the copy ends). By digest (no tag): the by-digest copy only, as
    /// epoch does for the children of an index.
    public func pushManifest(_ manifest: Manifest, as target: ManifestTarget, in repository: String) async throws {
        try validate(repository)
        let tag: String? = if case .root(let given?) = target { given } else { nil }
        if let tag, !Names.isValidTag(tag) { throw StorageError(.nameInvalid, "\(displayName): '\(tag)' is not a valid tag") }
        try await objects.exclusive {
            for blob in manifest.blobs where try await !self.blobExists(blob.digest, in: repository) {
                throw StorageError(.manifestBlobUnknown, "\(self.displayName): manifest \(manifest.digest) names blob \(blob.digest), which is not in the bucket")
            }
            for child in manifest.manifests where try await !self.manifestExists(child.digest, in: repository) {
                throw StorageError(.manifestBlobUnknown, "\(self.displayName): index \(manifest.digest) names manifest \(child.digest), which is not in \(repository)")
            }
            let digestKey = self.digestKey(manifest.digest, in: repository)
            let existed = try await self.objects.head(digestKey) != nil
            try await self.objects.write(digestKey, manifest.bytes)
            if !existed { try await self.remember(digestKey) }
            guard let tag else { return }
            let key = self.tagKey(tag, in: repository)
            try await self.objects.write(self.prefix + key, manifest.bytes)
            if self.uncataloged.add((tag, key, repository)) { try await self.updateCatalog() }
        }
    }

    /// Adds the tags stored since the last update to `catalog.json`, in one read-modify-write;
    /// the caller holds the store's lock.
    private func updateCatalog() async throws {
        let tags = uncataloged.take()
        guard !tags.isEmpty else { return }
        try await objects.update(catalogKey) { current in
            var catalog = try current.map { try self.parseCatalog($0) } ?? Catalog()
            for entry in tags { catalog.add(tag: entry.tag, key: entry.key, repository: entry.repository) }
            return catalog.encoded()
        }
    }

    /// Adds the tags not yet in the catalog, under the store's lock.
    private func catalogPendingTags() async throws {
        guard !uncataloged.isEmpty else { return }
        try await objects.exclusive { try await self.updateCatalog() }
    }

    /// The end of a copy: every tag stored is in the catalog.
    public func commit() async throws {
        try await catalogPendingTags()
    }

    /// Records an object this store created, with its time then, for `abort()`.
    private func remember(_ key: String) async throws {
        guard objects.supportsLocking, let info = try await objects.head(key) else { return }
        created.withLock { $0[key] = info.modified }
    }

    /// After a failed copy, on a store with a lock (a directory bucket): removes, under the lock,
    /// the blobs and by-digest copies this store created that no tag reaches and that nobody has
    /// marked in use since. On S3, which has neither a lock nor refreshable times, nothing is
    /// removed: what a failed copy left is unreachable and goes with `ferry gc`.
    public func abort() async {
        // The tags stored before the failure stay, in the catalog too.
        try? await catalogPendingTags()
        let written = created.withLock { $0 }
        guard objects.supportsLocking, !written.isEmpty else { return }
        _ = try? await objects.exclusive {
            let reachable = try await self.reachableDigests()
            for (key, stamp) in written.sorted(by: { $0.key < $1.key }) {
                guard let digest = self.digest(ofKey: key), !reachable.contains(digest),
                    let info = try await self.objects.head(key), info.modified == stamp
                else { continue }
                try await self.objects.delete(key)
            }
        }
        created.withLock { $0 = [:] }
    }

    /// The digest a blob key (`blobs/<alg>/<hex>`) or by-digest manifest key
    /// (`manifests/<name>/_digests/<alg>-<hex>.json`) stands for; nil for any other key.
    func digest(ofKey key: String) -> Digest? {
        guard key.hasPrefix(prefix) else { return nil }
        let relative = key.dropFirst(prefix.count)
        if relative.hasPrefix("blobs/") {
            let parts = relative.dropFirst("blobs/".count).split(separator: "/")
            guard parts.count == 2, let algorithm = Digest.Algorithm(rawValue: String(parts[0])) else { return nil }
            return try? Digest(algorithm: algorithm, encoded: String(parts[1]))
        }
        guard let marker = relative.range(of: "/_digests/", options: .backwards), relative.hasSuffix(".json") else { return nil }
        let name = relative[marker.upperBound...].dropLast(5)
        guard let dash = name.firstIndex(of: "-"), let algorithm = Digest.Algorithm(rawValue: String(name[..<dash])) else { return nil }
        return try? Digest(algorithm: algorithm, encoded: String(name[name.index(after: dash)...]))
    }
}
