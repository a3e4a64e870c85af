import FerryCore
import Foundation
import OCI
import SystemPackage
import TarIO

extension LayoutArchiveStore {
    /// The scan of the archive, made on first use. A compressed archive is scanned up to its
    /// first large blob when everything before it describes the content; the scanner waits
    /// there for `streamBlobs`, so that a copy reads the archive once.
    func readCatalog() async throws -> ArchiveCatalog {
        if let cached = catalog.withLock({ $0 }) { return cached }
        let path = self.path
        let displayName = self.displayName
        passes.withLock { $0 += 1 }
        let scanner = try await BlockingIO.run { () -> ArchiveScanner in
            let scanner = try ArchiveScanner(path, displayName: displayName)
            try scanner.advance(stopAtLargeBlob: true)
            if !scanner.catalog.complete, !scanner.hasIndex { try scanner.advance(stopAtLargeBlob: false) }
            return scanner
        }
        catalog.withLock { $0 = scanner.catalog }
        if !scanner.catalog.complete { head.withLock { $0 = scanner } }
        return scanner.catalog
    }

    /// The catalog of the whole archive, scanning past the head when it stopped early.
    func completeCatalog() async throws -> ArchiveCatalog {
        let current = try await readCatalog()
        if current.complete { return current }
        let scanner = try takeHeadOrRescan()
        try await BlockingIO.run { try scanner.advance(stopAtLargeBlob: false) }
        catalog.withLock { $0 = scanner.catalog }
        return scanner.catalog
    }

    /// The paused head scan (taking it), or a new scan from the start.
    private func takeHeadOrRescan() throws -> ArchiveScanner {
        let paused = head.withLock { taken -> ArchiveScanner? in
            defer { taken = nil }
            return taken
        }
        if let paused { return paused }
        passes.withLock { $0 += 1 }
        return try ArchiveScanner(path, displayName: displayName)
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
        var catalog = try await readCatalog()
        if case .digest(let digest) = selector, catalog.blobs[digest] == nil { catalog = try await completeCatalog() }
        return try catalog.index.resolve(selector, in: repository, displayName: displayName, strict: refNameStyle == .named) { digest in
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
        let fd = try FileSystem.open(path, .readOnly, displayName: displayName)
        defer { try? fd.close() }
        return try [UInt8](unsafeUninitializedCapacity: Int(place.size)) { buffer, count in
            count = try fd.read(fromAbsoluteOffset: place.offset, into: UnsafeMutableRawBufferPointer(buffer))
        }
    }

    public func fetch(_ descriptor: Descriptor, in repository: String) async throws -> ByteStream {
        var catalog = try await readCatalog()
        if catalog.blobs[descriptor.digest] == nil, !catalog.complete { catalog = try await completeCatalog() }
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
        passes.withLock { $0 += 1 }
        let reader = try await BlockingIO.run { () -> TarReader in
            let reader = try TarReader(path: path.string, name: displayName)
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
        return try await completeCatalog().blobs[digest] != nil
    }

    public func manifestExists(_ digest: Digest, in repository: String) async throws -> Bool {
        try await blobExists(digest, in: repository)
    }

    public func blobSize(_ digest: Digest, in repository: String) async throws -> Int64? {
        var catalog = try await readCatalog()
        if catalog.blobs[digest] == nil, !catalog.complete { catalog = try await completeCatalog() }
        return catalog.blobs[digest]?.size
    }

    public func repositories() async throws -> [String] { try await readCatalog().index.repositories }

    public func tags(in repository: String) async throws -> [String] { try await readCatalog().index.tags(in: repository) }

    public func roots() async throws -> [(name: String, repository: String, descriptor: Descriptor)] {
        try await readCatalog().index.roots
    }

    public func storedBlobs() async throws -> [(digest: Digest, size: Int64)] {
        let catalog = try await completeCatalog()
        return catalog.order.compactMap { digest in catalog.blobs[digest].map { (digest, $0.size) } }
    }
}

extension LayoutArchiveStore: SequentialSource {
    /// A compressed archive is read in one pass; a plain tar is read by offset, in parallel.
    public func prefersOnePass() async throws -> Bool {
        try await readCatalog().compressed
    }

    public func streamBlobs(
        _ blobs: [Descriptor], in repository: String, to body: @Sendable (Descriptor, ByteStream) async throws -> Void
    ) async throws {
        let catalog = try await readCatalog()
        let byDigest = Dictionary(blobs.map { ($0.digest, $0) }, uniquingKeysWith: { first, _ in first })
        var wanted = Set(byDigest.keys)
        // In the order asked for, never a dictionary's: what a sequential sink writes must not vary.
        for descriptor in blobs where wanted.contains(descriptor.digest) {
            guard let bytes = catalog.small[descriptor.digest] else { continue }
            try await body(descriptor, .bytes(bytes))
            wanted.remove(descriptor.digest)
        }
        guard !wanted.isEmpty else { return }
        // Continue the pass that the catalog's scan began, or read the archive again.
        let scanner = try takeHeadOrRescan()
        let delivered = try await scanner.stream(wanted) { digest, stream in
            guard let descriptor = byDigest[digest] else { return }
            try await body(descriptor, stream)
        }
        self.catalog.withLock { $0 = scanner.catalog }
        if let missing = wanted.subtracting(delivered).first {
            throw StorageError(.blobUnknown, "\(displayName): \(missing) is missing")
        }
    }

    /// Streams every blob of the archive except `skipping`, in one pass: the small ones kept from
    /// the scan first, then the rest as the scan goes on.
    func streamAllBlobs(skipping: Set<Digest>, to body: @Sendable (Descriptor, ByteStream) async throws -> Void) async throws {
        let catalog = try await readCatalog()
        var done = skipping
        for digest in catalog.order where !done.contains(digest) {
            guard let bytes = catalog.small[digest] else { continue }
            try await body(Descriptor(mediaType: MediaType.octetStream, digest: digest, size: Int64(bytes.count)), .bytes(bytes))
            done.insert(digest)
        }
        let scanner = try takeHeadOrRescan()
        _ = try await scanner.stream(nil, skipping: done) { digest, stream in
            let size = scanner.catalog.blobs[digest]?.size ?? 0
            try await body(Descriptor(mediaType: MediaType.octetStream, digest: digest, size: size), stream)
        }
        self.catalog.withLock { $0 = scanner.catalog }
    }
}
