import FerryCore
import Foundation
import OCI
import SystemPackage
import TarIO

/// What a scan of a layout tarball found so far.
struct ArchiveCatalog: Sendable {
    var index = LayoutIndex()
    /// Each blob's data offset (in the uncompressed stream) and size.
    var blobs: [Digest: (offset: Int64, size: Int64)] = [:]
    /// Blob digests in archive order.
    var order: [Digest] = []
    var compressed = false
    /// Small blobs of a compressed archive, kept from the scan so manifests need no second pass
    /// (bounded in memory: `SmallBlobCache`).
    var small: SmallBlobCache
    /// Whether the scan reached the end of the archive.
    var complete = false

    /// Blobs up to this size are kept when the archive is compressed.
    static let smallBlobLimit: Int64 = 1 << 20

    init(displayName: String) { small = SmallBlobCache(displayName: displayName) }
}

/// Reads a layout tarball front to back, refusing hostile entries. On a compressed archive it
/// can stop at the first large blob, so that the copy can be planned from the entries before it
/// and then continue in the same pass.
final class ArchiveScanner: @unchecked Sendable {
    private let reader: TarReader
    private let path: FilePath
    private let displayName: String
    private(set) var catalog: ArchiveCatalog
    /// Names of the entries other than blobs seen so far (a blob's name is its digest, which
    /// `catalog.blobs` already holds): what finds an entry given twice.
    private var names = Set<String>()
    private var count = 0
    private var sawIndex = false
    /// A large blob whose header is read and whose data is not.
    private var pending: (entry: TarEntry, digest: Digest)?

    init(_ path: FilePath, displayName: String) throws {
        guard FileSystem.regularFileSize(path) != nil else {
            throw StorageError(.nameUnknown, "\(displayName): no such archive")
        }
        reader = try TarReader(path: path.string, name: displayName)
        self.path = path
        self.displayName = displayName
        catalog = ArchiveCatalog(displayName: displayName)
    }

    /// Reads on until a large blob of a compressed archive (when `stopAtLargeBlob`) or the end.
    func advance(stopAtLargeBlob: Bool) throws {
        if pending != nil {
            try reader.skipData()
            pending = nil
        }
        while let (entry, digest) = try nextBlob() {
            if catalog.compressed, entry.size <= ArchiveCatalog.smallBlobLimit {
                try catalog.small.store(digest, try readAll(entry, limit: Int(ArchiveCatalog.smallBlobLimit)))
            } else if stopAtLargeBlob, catalog.compressed {
                pending = (entry, digest)
                return
            } else {
                try reader.skipData()
            }
        }
    }

    /// Whether the entries read so far hold `index.json`.
    var hasIndex: Bool { sawIndex }

    /// Continues to the end, handing the data of each blob in `wanted` (every blob when nil) to
    /// `body` as it comes, except those in `skipping`; returns the digests it handed over.
    func stream(
        _ wanted: Set<Digest>?, skipping: Set<Digest> = [], to body: (Digest, ByteStream) async throws -> Void
    ) async throws -> Set<Digest> {
        var delivered = skipping
        while true {
            let next: (entry: TarEntry, digest: Digest)?
            if let pending {
                next = pending
                self.pending = nil
            } else {
                next = try await BlockingIO.run { try self.nextBlob() }
            }
            guard let (entry, digest) = next else { return delivered }
            guard wanted?.contains(digest) ?? true, !delivered.contains(digest) else {
                try await BlockingIO.run { try self.reader.skipData() }
                continue
            }
            let remaining = RemainingBytes(entry.size)
            let reader = self.reader
            try await body(digest, ByteStream {
                try Task.checkCancellation()
                guard remaining.count > 0 else { return nil }
                let chunk = try await BlockingIO.run { try reader.read(upTo: Int(min(remaining.count, Int64(ByteStream.chunkSize)))) }
                guard !chunk.isEmpty else { throw StorageError(.unknown, "\(self.displayName): truncated archive in \(digest)") }
                remaining.count -= Int64(chunk.count)
                return chunk
            })
            try await BlockingIO.run { try reader.skipData() }
            delivered.insert(digest)
        }
    }

    /// The next blob entry, after admitting every entry before it; nil at the end.
    private func nextBlob() throws -> (TarEntry, Digest)? {
        while let entry = try reader.next() {
            count += 1
            guard count <= ArchiveEntry.maximumEntries else {
                throw StorageError(.unsupported, "\(displayName): refused: more than \(ArchiveEntry.maximumEntries) entries")
            }
            catalog.compressed = reader.isCompressed
            let (kind, name) = try ArchiveEntry.classify(entry, archive: displayName)
            let repeated: Bool
            switch kind {
            case .directory: repeated = false
            case .blob(let digest): repeated = catalog.blobs[digest] != nil
            default: repeated = !names.insert(name).inserted
            }
            guard !repeated else {
                throw StorageError(.unsupported, "\(displayName): refused: entry '\(entry.path)' appears twice")
            }
            switch kind {
            case .directory:
                continue
            case .layoutFile:
                try LayoutArchiveStore.checkLayoutFile(try readAll(entry, limit: 1 << 16), displayName: displayName)
            case .index:
                do {
                    catalog.index = try LayoutIndex(bytes: try readAll(entry, limit: Manifest.maximumSize))
                } catch let error as ValidationError {
                    throw StorageError(.manifestInvalid, "\(displayName): index.json is corrupt: \(error)")
                }
                sawIndex = true
            case .blob(let digest):
                catalog.blobs[digest] = (entry.dataOffset, entry.size)
                catalog.order.append(digest)
                return (entry, digest)
            }
        }
        try finish()
        return nil
    }

    private func finish() throws {
        guard sawIndex else { throw StorageError(.nameUnknown, "\(displayName): not an OCI layout archive (no index.json)") }
        if !catalog.compressed, let size = FileSystem.regularFileSize(path) {
            // A plain tar is served by offset: every blob must lie inside the file.
            for (digest, place) in catalog.blobs where place.offset + place.size > size {
                throw StorageError(.unknown, "\(displayName): truncated archive: blob \(digest) ends past the end of the file")
            }
        }
        catalog.complete = true
    }

    private func readAll(_ entry: TarEntry, limit: Int) throws -> [UInt8] {
        guard entry.size <= Int64(limit) else {
            throw StorageError(.unsupported, "\(displayName): refused: entry '\(entry.path)' declares \(entry.size) bytes, over \(limit)")
        }
        var bytes = [UInt8]()
        while bytes.count < Int(entry.size) {
            let chunk = try reader.read(upTo: Int(entry.size) - bytes.count)
            guard !chunk.isEmpty else { throw StorageError(.unknown, "\(displayName): truncated archive at '\(entry.path)'") }
            bytes += chunk
        }
        return bytes
    }
}

/// How much of an entry is left to read; one stream uses it at a time.
private final class RemainingBytes: @unchecked Sendable {
    var count: Int64
    init(_ count: Int64) { self.count = count }
}
