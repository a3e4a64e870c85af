import FerryCore
import OCI
import TarIO

/// What an entry of a layout tarball may be. Entry names are never trusted: anything but the
/// layout's own names is refused, as are links, devices, absolute paths, `..` and duplicates.
enum ArchiveEntry: Equatable {
    case layoutFile
    case index
    case blob(Digest)
    case directory

    /// Archives with more entries than this are refused as absurd.
    static let maximumEntries = 1_000_000
    /// Blobs larger than this (1 TiB) are refused as absurd.
    static let maximumBlobSize: Int64 = 1 << 40

    /// Classifies a header, or says why the archive is refused.
    static func classify(_ entry: TarEntry, archive: String) throws -> (ArchiveEntry, name: String) {
        let raw = entry.path
        func refuse(_ why: String) -> StorageError {
            StorageError(.unsupported, "\(archive): refused: entry '\(raw)' \(why)")
        }
        guard !raw.hasPrefix("/") else { throw refuse("has an absolute path") }
        var name = Substring(raw)
        while name.hasPrefix("./") { name = name.dropFirst(2) }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard !parts.contains("..") else { throw refuse("has a '..' component") }
        switch entry.kind {
        case .regular: break
        case .directory:
            let trimmed = name.hasSuffix("/") ? name.dropLast() : name
            guard trimmed == "blobs" || trimmed == "." || trimmed.isEmpty
                || (trimmed.hasPrefix("blobs/") && Digest.Algorithm(rawValue: String(trimmed.dropFirst(6))) != nil)
            else { throw refuse("is a directory outside the layout's names") }
            return (.directory, String(trimmed))
        case .symbolicLink, .hardLink: throw refuse("is a link")
        default: throw refuse("is a device, FIFO or socket")
        }
        guard entry.size >= 0, entry.size <= maximumBlobSize else { throw refuse("declares an absurd size (\(entry.size) bytes)") }
        switch name {
        case "oci-layout": return (.layoutFile, "oci-layout")
        case "index.json": return (.index, "index.json")
        default:
            guard parts.count == 3, parts[0] == "blobs", let algorithm = Digest.Algorithm(rawValue: String(parts[1])),
                let digest = try? Digest(algorithm: algorithm, encoded: String(parts[2]))
            else { throw refuse("is outside the layout's names (oci-layout, index.json, blobs/<alg>/<hex>)") }
            return (.blob(digest), String(name))
        }
    }
}
