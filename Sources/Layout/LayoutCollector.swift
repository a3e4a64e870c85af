import FerryCore
import Foundation
import OCI

#if canImport(Glibc)
    import Glibc
#endif

extension LayoutStore: Collectable {
    public func markInUse(_ digest: Digest, in repository: String) async {
        try? directory().touch(Self.blobName(digest))
    }

    /// Every blob file (manifests included), with its modification time.
    public func storedItems() async throws -> [StoredItem] {
        try await storedBlobStatus().map { blob in
            StoredItem(kind: .blob, digest: blob.digest, size: blob.status.size, modified: blob.status.modified)
        }
    }

    public func excludingWriters<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await directory().holdingLock(body)
    }

    public func sweepTemporaryFiles() async throws -> Int {
        try await BlockingIO.run { try self.sweepTemporaryFilesNow() }
    }

    public func remove(_ item: StoredItem) async throws {
        try await deleteBlob(item.digest, in: "")
    }
}
