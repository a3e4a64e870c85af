import FerryCore
import Foundation
import OCI
import Synchronization
import SystemPackage
import TarIO

/// An OCI image layout as a tarball (`.tar`, `.tar.gz`/`.tgz`, `.tar.zst`).
///
/// Reading sniffs the compression. A plain tar is indexed once and its blobs are served from the
/// file by offset, nothing extracted; a compressed one is scanned once, keeping its small blobs
/// (manifests, configs) in memory. Writing streams blobs straight into a temporary archive beside
/// the destination, manifests first and `index.json` last, and renames it into place on commit;
/// writing into an existing archive streams its entries across and adds the new tag.
public final class LayoutArchiveStore: Storage, Inventory, LayoutNaming {
    public let path: FilePath
    public let refNameStyle: RefNameStyle
    public let displayName: String

    let catalog = Mutex<ArchiveCatalog?>(nil)
    /// A scan of a compressed archive paused at its first large blob, for a one-pass copy.
    let head = Mutex<ArchiveScanner?>(nil)
    /// How many times this store has started reading the archive from its first byte.
    let passes = Mutex(0)
    let session = Mutex<ArchiveWriteSession?>(nil)

    public init(file: String, refNameStyle: RefNameStyle = .bare) {
        path = FilePath(file)
        self.refNameStyle = refNameStyle
        displayName = "oci-archive:\(file)"
    }

    /// A tarball is written front to back: blobs arrive one at a time in the graph's order.
    public var wantsSequentialBlobs: Bool { true }

    /// The `ref.name` a tag is written under (see `RefNameStyle`).
    public func refName(forTag tag: String, repository: String) throws -> String {
        try LayoutIndex.refName(forTag: tag, repository: repository, style: refNameStyle, displayName: displayName)
    }
}
