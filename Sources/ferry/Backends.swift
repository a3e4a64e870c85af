import FerryCore
import Layout
import OCI

/// Turns parsed references and locations into storage backends: the only place that knows which
/// backend serves which transport.
enum Backends {
    static func open(_ reference: Reference, refNameStyle: RefNameStyle = .bare) throws -> any Storage {
        switch reference {
        case .layout(let path, _):
            return LayoutStore(directory: path, refNameStyle: refNameStyle)
        case .layoutArchive(let path, _):
            return LayoutArchiveStore(file: path, refNameStyle: refNameStyle)
        default:
            throw unavailable(reference.transportName)
        }
    }

    static func open(_ location: Location, refNameStyle: RefNameStyle = .bare) throws -> any Storage {
        switch location {
        case .layout(let path):
            return LayoutStore(directory: path, refNameStyle: refNameStyle)
        case .layoutArchive(let path):
            return LayoutArchiveStore(file: path, refNameStyle: refNameStyle)
        case .epoch: throw unavailable("epoch")
        case .cocoon: throw unavailable("cocoon")
        case .registry: throw unavailable("docker")
        }
    }

    private static func unavailable(_ transport: String) -> StorageError {
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
