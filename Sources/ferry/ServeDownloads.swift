import Cocoon
import Distribution
import FerryCore
import Foundation
import OCI

/// Epoch's downloads for `ferry serve`: a snapshot becomes the tarball `cocoon snapshot import`
/// reads (named after the repository), a cloud image its disk; other kinds have none.
struct SnapshotDownloads: Downloads {
    let options: SnapshotArtifactOptions

    func write(_ manifest: Manifest, of store: any Storage, repository: String, name: String, to directory: ContainedDirectory, file: String) async throws -> String {
        let path = directory.path(of: file).string
        let destination: any Storage
        let type: String
        switch manifest.kind {
        case .snapshot:
            destination = CocoonArchiveStore(file: path, options: options)
            type = "application/x-tar"
        case .cloudImage:
            destination = DiskStore(file: path, options: options)
            type = "application/octet-stream"
        default:
            throw StorageError(.unsupported, "\(name): a \(manifest.kind.rawValue) has no download (only snapshots and cloud images have)")
        }
        _ = try await CopyEngine().copy(from: CopyEndpoint(store, repository: repository), .digest(manifest.digest),
                                        to: CopyEndpoint(destination, repository: name), tag: nil)
        return type
    }
}
