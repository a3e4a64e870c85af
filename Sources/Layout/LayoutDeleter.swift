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
        do {
            try directory().removeFile(Self.blobName(digest))
        } catch let error as StorageError {
            throw StorageError(error.code, "\(displayName): cannot remove \(digest): \(error.message)")
        }
    }
}
