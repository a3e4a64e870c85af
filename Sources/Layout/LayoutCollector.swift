import FerryCore
import Foundation
import OCI

#if canImport(Glibc)
    import Glibc
#endif

extension LayoutStore: Collectable {
    public func markInUse(_ digest: Digest, in repository: String) async {
        FileSystem.touch(blobPath(digest))
    }

    /// Every blob file (manifests included), with its modification time.
    public func storedItems() async throws -> [StoredItem] {
        try await storedBlobs().map { blob in
            StoredItem(kind: .blob, digest: blob.digest, size: blob.size, modified: FileSystem.modificationDate(blobPath(blob.digest)) ?? Date())
        }
    }

    public func remove(_ item: StoredItem) async throws {
        try await deleteBlob(item.digest, in: "")
    }
}
