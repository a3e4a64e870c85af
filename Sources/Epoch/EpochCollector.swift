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
            let parts = object.key.dropFirst("\(prefix)blobs/".count).split(separator: "/")
            guard parts.count == 2, let algorithm = Digest.Algorithm(rawValue: String(parts[0])),
                let digest = try? Digest(algorithm: algorithm, encoded: String(parts[1]))
            else { continue }
            items.append(StoredItem(kind: .blob, digest: digest, size: object.size, modified: object.modified))
        }
        for object in try await objects.list(prefix: "\(prefix)manifests/") {
            let relative = object.key.dropFirst("\(prefix)manifests/".count)
            guard let marker = relative.range(of: "/_digests/"), relative.hasSuffix(".json") else { continue }
            let repository = String(relative[..<marker.lowerBound])
            let name = relative[marker.upperBound...].dropLast(5)
            guard let dash = name.firstIndex(of: "-"), let algorithm = Digest.Algorithm(rawValue: String(name[..<dash])),
                let digest = try? Digest(algorithm: algorithm, encoded: String(name[name.index(after: dash)...]))
            else { continue }
            items.append(StoredItem(kind: .manifest(repository: repository), digest: digest, size: object.size, modified: object.modified))
        }
        return items
    }

    /// gc's last walk and its removals hold the bucket's lock, which a writer holds to store a
    /// manifest (a directory bucket; S3 has none).
    public func excludingWriters<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await objects.exclusive(body)
    }

    public func remove(_ item: StoredItem) async throws {
        switch item.kind {
        case .blob: try await objects.delete(blobKey(item.digest))
        case .manifest(let repository): try await objects.delete(digestKey(item.digest, in: repository))
        }
    }
}
