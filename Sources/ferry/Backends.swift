import Cocoon
import Distribution
import Epoch
import HTTPSupport
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
    /// Credentials and transfer settings for `docker://`.
    var registry = RegistryOptions()
    /// An `oci:DIR` location holds one layout per repository (`DIR/NAME/index.json`).
    var perRepository = false

    /// Which side of a copy a place is: a registry takes that side's credentials.
    enum Role { case source, destination }

    func open(_ reference: Reference, refNameStyle: RefNameStyle = .bare, role: Role = .source) throws -> any Storage {
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
        case .registry(let host, _, _):
            return try openRegistry(host, prefix: "", role: role)
        }
    }

    func open(_ location: Location, refNameStyle: RefNameStyle = .bare, role: Role = .source) throws -> any Storage {
        switch location {
        case .layout(let path):
            if perRepository { return LayoutDirectory(directory: path) }
            return LayoutStore(directory: path, refNameStyle: refNameStyle)
        case .layoutArchive(let path):
            return LayoutArchiveStore(file: path, refNameStyle: refNameStyle)
        case .epoch(let bucket): return try openEpoch(bucket)
        case .cocoon(let root):
            return CocoonStore(rootPath: root, options: snapshot)
        case .cocoonArchive(let path):
            return CocoonArchiveStore(file: path, options: snapshot)
        case .registry(let host, let prefix):
            return try openRegistry(host, prefix: prefix, role: role)
        }
    }

    /// A registry, with the credentials of its side of the copy.
    func openRegistry(_ host: String, prefix: String, role: Role) throws -> any Storage {
        let creds = role == .source ? registry.sourceCreds : registry.destinationCreds
        let credentials = CredentialSource(explicit: creds.map(CredentialSource.parse(creds:)), registryToken: registry.registryToken)
        var trust = Trust(verifies: tlsVerify)
        if let ca = ProcessInfo.processInfo.environment["EPOCH_CA_CERT"], !ca.isEmpty {
            trust.caFiles.append(.init(path: ca, source: "EPOCH_CA_CERT=\(ca)"))
        }
        return try RegistryStore(host: host, prefix: prefix, credentials: credentials, trust: trust,
                                 retryTimes: registry.retryTimes, maxChunk: registry.maxChunk)
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

}

/// `docker://` settings from the command line.
struct RegistryOptions {
    var sourceCreds: String?
    var destinationCreds: String?
    var registryToken: String?
    var retryTimes = 3
    var maxChunk: Int64?
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
