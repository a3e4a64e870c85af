import FerryCore
import Foundation
import OCI
import SystemPackage
import TarIO

/// What one scan of a layout tarball found.
struct ArchiveCatalog: Sendable {
    var index: LayoutIndex
    /// Each blob's data offset (in the uncompressed stream) and size.
    var blobs: [Digest: (offset: Int64, size: Int64)]
    /// Every entry name, in archive order.
    var order: [Digest]
    var compressed: Bool
    /// Small blobs of a compressed archive, kept from the scan so manifests need no second pass.
    var small: [Digest: [UInt8]]

    /// Blobs up to this size are kept in memory when the archive is compressed.
    static let smallBlobLimit: Int64 = 1 << 20

    /// Reads the archive once, refusing hostile entries, and records where each blob is.
    static func scan(_ path: FilePath, displayName: String) throws -> ArchiveCatalog {
        guard FileSystem.regularFileSize(path) != nil else {
            throw StorageError(.nameUnknown, "\(displayName): no such archive")
        }
        let reader = try TarReader(path: path.string)
        var catalog = ArchiveCatalog(index: LayoutIndex(), blobs: [:], order: [], compressed: false, small: [:])
        var names = Set<String>()
        var sawIndex = false
        var count = 0
        while let entry = try reader.next() {
            count += 1
            guard count <= ArchiveEntry.maximumEntries else {
                throw StorageError(.unsupported, "\(displayName): refused: more than \(ArchiveEntry.maximumEntries) entries")
            }
            catalog.compressed = reader.isCompressed
            let (kind, name) = try ArchiveEntry.classify(entry, archive: displayName)
            guard kind == .directory || names.insert(name).inserted else {
                throw StorageError(.unsupported, "\(displayName): refused: entry '\(entry.path)' appears twice")
            }
            switch kind {
            case .directory:
                continue
            case .layoutFile:
                try LayoutArchiveStore.checkLayoutFile(try readAll(reader, entry, limit: 1 << 16, displayName), displayName: displayName)
            case .index:
                do {
                    catalog.index = try LayoutIndex(bytes: try readAll(reader, entry, limit: Manifest.maximumSize, displayName))
                } catch let error as ValidationError {
                    throw StorageError(.manifestInvalid, "\(displayName): index.json is corrupt: \(error)")
                }
                sawIndex = true
            case .blob(let digest):
                catalog.blobs[digest] = (entry.dataOffset, entry.size)
                catalog.order.append(digest)
                if catalog.compressed, entry.size <= smallBlobLimit {
                    catalog.small[digest] = try readAll(reader, entry, limit: Int(smallBlobLimit), displayName)
                } else {
                    try reader.skipData()
                }
            }
        }
        guard sawIndex else { throw StorageError(.nameUnknown, "\(displayName): not an OCI layout archive (no index.json)") }
        if !catalog.compressed, let size = FileSystem.regularFileSize(path) {
            // A plain tar is served by offset: every blob must lie inside the file.
            for (digest, place) in catalog.blobs where place.offset + place.size > size {
                throw StorageError(.unknown, "\(displayName): truncated archive: blob \(digest) ends past the end of the file")
            }
        }
        return catalog
    }

    private static func readAll(_ reader: TarReader, _ entry: TarEntry, limit: Int, _ displayName: String) throws -> [UInt8] {
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

extension LayoutArchiveStore {
    /// The scan of the archive, made on first use.
    func readCatalog() async throws -> ArchiveCatalog {
        if let cached = catalog.withLock({ $0 }) { return cached }
        let scanned = try await BlockingIO.run { try ArchiveCatalog.scan(self.path, displayName: self.displayName) }
        catalog.withLock { $0 = scanned }
        return scanned
    }

    static func checkLayoutFile(_ bytes: [UInt8], displayName: String) throws {
        struct LayoutFile: Decodable { var imageLayoutVersion: String }
        guard let file = try? JSONDecoder().decode(LayoutFile.self, from: Data(bytes)) else {
            throw StorageError(.manifestInvalid, "\(displayName): oci-layout is not valid JSON")
        }
        guard file.imageLayoutVersion.hasPrefix("1.") else {
            throw StorageError(.unsupported, "\(displayName): image layout version \(file.imageLayoutVersion) is not supported (1.x is)")
        }
    }

    public func resolve(_ selector: ManifestSelector?, in repository: String) async throws -> Descriptor {
        let catalog = try await readCatalog()
        return try catalog.index.resolve(selector, in: repository, displayName: displayName) { digest in
            guard let place = catalog.blobs[digest], place.size <= Int64(Manifest.maximumSize) else { return nil }
            let bytes = try readSmallBlob(digest, catalog: catalog)
            guard let manifest = try? Manifest(bytes: bytes, digestAlgorithm: digest.algorithm) else {
                throw StorageError(.manifestUnknown, "\(displayName): \(digest) is not a manifest")
            }
            return Descriptor(mediaType: manifest.mediaType, digest: digest, size: place.size)
        }
    }

    /// A small blob's bytes, read synchronously (kept from the scan, or by offset in a plain tar).
    private func readSmallBlob(_ digest: Digest, catalog: ArchiveCatalog) throws -> [UInt8] {
        if let bytes = catalog.small[digest] { return bytes }
        guard let place = catalog.blobs[digest], !catalog.compressed else {
            throw StorageError(.manifestUnknown, "\(displayName): no manifest \(digest)")
        }
        let fd = try FileSystem.open(path, .readOnly)
        defer { try? fd.close() }
        return try [UInt8](unsafeUninitializedCapacity: Int(place.size)) { buffer, count in
            count = try fd.read(fromAbsoluteOffset: place.offset, into: UnsafeMutableRawBufferPointer(buffer))
        }
    }

    public func fetch(_ descriptor: Descriptor, in repository: String) async throws -> ByteStream {
        let catalog = try await readCatalog()
        guard let place = catalog.blobs[descriptor.digest] else {
            throw StorageError(descriptor.isManifest ? .manifestUnknown : .blobUnknown, "\(displayName): \(descriptor.digest) is missing")
        }
        if let bytes = catalog.small[descriptor.digest] { return .bytes(bytes) }
        if !catalog.compressed { return try ByteStream.file(at: path, offset: place.offset, length: place.size) }
        return try await entryStream(named: descriptor.digest)
    }

    /// The data of one blob of a compressed archive, decompressing up to it.
    private func entryStream(named digest: Digest) async throws -> ByteStream {
        let wanted = "blobs/\(digest.algorithm.rawValue)/\(digest.encoded)"
        let path = self.path
        let displayName = self.displayName
        let reader = try await BlockingIO.run { () -> TarReader in
            let reader = try TarReader(path: path.string)
            while let entry = try reader.next() {
                if (try? ArchiveEntry.classify(entry, archive: displayName))?.name == wanted { return reader }
            }
            throw StorageError(.blobUnknown, "\(displayName): \(digest) is missing")
        }
        return ByteStream {
            try Task.checkCancellation()
            return try await BlockingIO.run {
                let chunk = try reader.read(upTo: ByteStream.chunkSize)
                return chunk.isEmpty ? nil : chunk
            }
        }
    }

    public func blobExists(_ digest: Digest, in repository: String) async throws -> Bool {
        if let written = session.withLock({ $0?.written }) { return written.contains(digest) }
        return try await readCatalog().blobs[digest] != nil
    }

    public func manifestExists(_ digest: Digest, in repository: String) async throws -> Bool {
        try await blobExists(digest, in: repository)
    }

    public func repositories() async throws -> [String] { try await readCatalog().index.repositories }

    public func tags(in repository: String) async throws -> [String] { try await readCatalog().index.tags(in: repository) }

    public func roots() async throws -> [(name: String, repository: String, descriptor: Descriptor)] {
        try await readCatalog().index.roots
    }

    public func storedBlobs() async throws -> [(digest: Digest, size: Int64)] {
        let catalog = try await readCatalog()
        return catalog.order.compactMap { digest in catalog.blobs[digest].map { (digest, $0.size) } }
    }
}
