import FerryCore
import Foundation
import OCI

extension EpochStore: Collectable {
    public func markInUse(_ digest: Digest, in repository: String) async {
        try? await objects.touch(blobKey(digest))
    }

    /// Every blob and every by-digest manifest copy, with its modification time. Tag objects and
    /// the catalog are never collected: a tag is removed by deleting it.
    public func storedItems() async throws -> [StoredItem] {
        var items: [StoredItem] = []
        for object in try await objects.list(prefix: "\(prefix)blobs/") {
            guard let digest = digest(ofKey: object.key) else { continue }
            items.append(StoredItem(kind: .blob, digest: digest, size: object.size, modified: object.modified))
        }
        for object in try await objects.list(prefix: "\(prefix)manifests/") {
            guard let digest = digest(ofKey: object.key), let marker = object.key.range(of: "/_digests/", options: .backwards) else { continue }
            let repository = String(object.key[object.key.index(object.key.startIndex, offsetBy: "\(prefix)manifests/".count)..<marker.lowerBound])
            items.append(StoredItem(kind: .manifest(repository: repository), digest: digest, size: object.size, modified: object.modified))
        }
        return items
    }

    /// gc's last walk and its removals hold the bucket's lock, which a writer holds to store a
    /// manifest (a directory bucket; S3 has none).
    public func excludingWriters<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await objects.exclusive(body)
    }

    public func sweepTemporaryFiles() async throws -> Int { try await objects.sweepTemporaryFiles() }

    public func remove(_ item: StoredItem) async throws {
        switch item.kind {
        case .blob: try await objects.delete(blobKey(item.digest))
        case .manifest(let repository): try await objects.delete(digestKey(item.digest, in: repository))
        }
    }
}
