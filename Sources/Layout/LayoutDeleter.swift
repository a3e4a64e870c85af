import FerryCore
import Foundation
import OCI
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

extension LayoutStore {
    public func deleteTag(_ tag: String, in repository: String) async throws {
        let name = try refName(forTag: tag, repository: repository)
        try await rewriteIndex { index in
            let before = index.manifests.count
            index.manifests.removeAll { $0.refName == name }
            guard index.manifests.count < before else {
                throw StorageError(.manifestUnknown, "\(self.displayName): no tag '\(name)'")
            }
        }
    }

    public func deleteManifest(_ digest: Digest, in repository: String) async throws {
        try await rewriteIndex { index in index.manifests.removeAll { $0.digest == digest } }
        try await deleteBlob(digest, in: repository)
    }

    public func deleteBlob(_ digest: Digest, in repository: String) async throws {
        let path = blobPath(digest)
        guard unlink(path.string) == 0 || errno == ENOENT else {
            throw StorageError(.unknown, "\(displayName): cannot remove \(digest): \(Errno(rawValue: errno))")
        }
    }
}
