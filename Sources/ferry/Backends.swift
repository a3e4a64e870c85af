import Cocoon
import Epoch
import FerryCore
import Foundation
import Layout
import OCI

/// Turns parsed references and locations into storage backends: the only place that knows which
/// backend serves which transport.
struct Backends {
    /// False when the user opted out of TLS certificate checks (`--tls-verify=false`).
    var tlsVerify = true
    /// How snapshots read from cocoon places become artifacts.
    var snapshot = SnapshotArtifactOptions()
    /// Whether a `disk:` destination that is a block device may be written in place.
    var overwriteDevice = false

    func open(_ reference: Reference, refNameStyle: RefNameStyle = .bare) throws -> any Storage {
        switch reference {
        case .layout(let path, _):
            return LayoutStore(directory: path, refNameStyle: refNameStyle)
        case .layoutArchive(let path, _):
            return LayoutArchiveStore(file: path, refNameStyle: refNameStyle)
        case .epoch(let bucket, _, _):
            return try openEpoch(bucket)
        case .cocoon(let root, _):
            return CocoonStore(rootPath: root, options: snapshot)
        case .cocoonArchive(let path):
            return CocoonArchiveStore(file: path, options: snapshot)
        case .disk(let path):
            return DiskStore(file: path, options: snapshot, overwritesDevice: overwriteDevice)
        default:
            throw unavailable(reference.transportName)
        }
    }

    func open(_ location: Location, refNameStyle: RefNameStyle = .bare) throws -> any Storage {
        switch location {
        case .layout(let path):
            return LayoutStore(directory: path, refNameStyle: refNameStyle)
        case .layoutArchive(let path):
            return LayoutArchiveStore(file: path, refNameStyle: refNameStyle)
        case .epoch(let bucket): return try openEpoch(bucket)
        case .cocoon(let root):
            return CocoonStore(rootPath: root, options: snapshot)
        case .cocoonArchive(let path):
            return CocoonArchiveStore(file: path, options: snapshot)
        case .registry: throw unavailable("docker")
        }
    }

    /// An Epoch bucket: a directory mirror of the bucket's root, found from the reference or from
    /// `EPOCH_DIR`; keys start with `EPOCH_S3_PREFIX` (default `epoch/`), as epoch reads it.
    func openEpoch(_ bucket: EpochBucket, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any Storage {
        let prefix = environment["EPOCH_S3_PREFIX"].flatMap { $0.isEmpty ? nil : $0 } ?? "epoch/"
        switch bucket {
        case .directory(let path):
            return EpochStore(objects: DirectoryObjectStore(root: path), prefix: prefix)
        case .configured:
            if var s3 = try EpochS3Config.load(environment: environment) {
                s3.verifiesCertificates = tlsVerify
                return EpochStore(objects: try S3ObjectStore(config: s3), prefix: s3.prefix)
            }
            guard let directory = environment["EPOCH_DIR"], !directory.isEmpty else {
                throw StorageError(.nameUnknown, "epoch: no bucket configured: set EPOCH_DIR (a directory bucket) or EPOCH_S3_*, or write epoch:DIR#NAME")
            }
            return EpochStore(objects: DirectoryObjectStore(root: directory), prefix: prefix)
        case .s3(let bucket, let explicitPrefix):
            guard var s3 = try EpochS3Config.load(environment: environment.merging(["EPOCH_S3_BUCKET": bucket]) { _, new in new }) else {
                throw StorageError(.nameUnknown, "epoch:s3://\(bucket): set EPOCH_S3_ENDPOINT, EPOCH_S3_ACCESS_KEY and EPOCH_S3_SECRET_KEY")
            }
            s3.bucket = bucket
            if let explicitPrefix { s3.prefix = explicitPrefix }
            s3.verifiesCertificates = tlsVerify
            return EpochStore(objects: try S3ObjectStore(config: s3), prefix: s3.prefix)
        }
    }

    private func unavailable(_ transport: String) -> StorageError {
        StorageError(.unsupported, "\(transport): this build of ferry does not support the \(transport) transport yet (oci: is available)")
    }
}

extension Reference {
    /// The transport prefix, for messages.
    var transportName: String {
        switch self {
        case .layout: "oci"
        case .layoutArchive: "oci-archive"
        case .epoch: "epoch"
        case .cocoon: "cocoon"
        case .cocoonArchive: "cocoon-archive"
        case .registry: "docker"
        case .disk: "disk"
        }
    }
}
