import FerryCore
import Foundation
import OCI
import Synchronization
import SystemPackage
import TarIO

/// `cocoon-archive:FILE`: the tarball `cocoon snapshot export` writes, plain or gzip, seen as a
/// repository (the snapshot's name) holding one snapshot artifact. A plain archive serves each
/// layer from the file by offset; a gzip one is read in one pass. Writing produces the tarball
/// cocoon's import reads: `snapshot.json` first, then the files with `COCOON.sparse.*` records,
/// in a temporary file renamed into place when the copy succeeds.
public final class CocoonArchiveStore: WholeArtifactStore, SequentialSource {
    public let path: FilePath
    public let displayName: String
    let options: SnapshotArtifactOptions
    private let scanned = Mutex<(scan: CocoonArchiveScan, view: SnapshotView)?>(nil)
    private let sink: SinkSlot

    public init(file: String, options: SnapshotArtifactOptions = SnapshotArtifactOptions()) {
        path = FileSystem.absolute(file)
        self.options = options
        displayName = "cocoon-archive:\(file)"
        sink = SinkSlot(displayName: displayName)
    }

    // MARK: reading

    private func contents() async throws -> (scan: CocoonArchiveScan, view: SnapshotView) {
        if let done = scanned.withLock({ $0 }) { return done }
        guard FileSystem.exists(path) else { throw StorageError(.nameUnknown, "\(displayName): no such file") }
        let path = self.path
        let displayName = self.displayName
        let scan = try await BlockingIO.run { try CocoonArchiveScan.scan(path, displayName: displayName) }
        let view = try SnapshotView(config: scan.config, files: scan.files, options: options)
        scanned.withLock { $0 = (scan, view) }
        return (scan, view)
    }

    /// The snapshot's name from its envelope (its id when it has none).
    private func snapshotName(_ scan: CocoonArchiveScan) -> String {
        scan.config.name.isEmpty ? scan.config.id : scan.config.name
    }

    private func checkRepository(_ repository: String, _ scan: CocoonArchiveScan) throws {
        guard repository.isEmpty || repository == snapshotName(scan) else {
            throw StorageError(.nameUnknown, "\(displayName): holds \(snapshotName(scan)), not \(repository)")
        }
    }

    public func resolve(_ selector: ManifestSelector?, in repository: String) async throws -> Descriptor {
        let (scan, view) = try await contents()
        try checkRepository(repository, scan)
        return try view.resolve(selector, displayName: displayName)
    }

    public func fetch(_ descriptor: Descriptor, in repository: String) async throws -> ByteStream {
        let (scan, view) = try await contents()
        if let bytes = view.document(descriptor.digest) { return .bytes(bytes) }
        guard let file = view.file(for: descriptor.digest), let offset = scan.offsets[file.name] else {
            throw StorageError(.blobUnknown, "\(displayName): no blob \(descriptor.digest)")
        }
        if !scan.compressed { return try ByteStream.file(at: path, offset: offset, length: file.storedSize) }
        // A compressed archive has no random access: read up to the entry.
        let reader = try PaxTarReader(path: path.string, name: displayName)
        while let entry = try reader.next() {
            if entry.dataOffset == offset { return Self.entryStream(reader) }
            try reader.skipData()
        }
        throw StorageError(.blobUnknown, "\(displayName): \(file.name) is gone from the archive")
    }

    private static func entryStream(_ reader: PaxTarReader) -> ByteStream {
        ByteStream {
            try await BlockingIO.run {
                let chunk = try reader.read(upTo: ByteStream.chunkSize)
                return chunk.isEmpty ? nil : chunk
            }
        }
    }

    public func prefersOnePass() async throws -> Bool { try await contents().scan.compressed }

    /// The config from memory, then the wanted layers in archive order, in one pass.
    public func streamBlobs(
        _ blobs: [Descriptor], in repository: String, to body: @Sendable (Descriptor, ByteStream) async throws -> Void
    ) async throws {
        let (scan, view) = try await contents()
        var wanted = Dictionary(blobs.map { ($0.digest, $0) }, uniquingKeysWith: { a, _ in a })
        for digest in blobs.map(\.digest) {
            if let bytes = view.document(digest), let descriptor = wanted.removeValue(forKey: digest) {
                try await body(descriptor, .bytes(bytes))
            }
        }
        let byOffset = Dictionary(view.files.indices.compactMap { i in scan.offsets[view.files[i].name].map { ($0, view.layers[i]) } },
                                  uniquingKeysWith: { a, _ in a })
        let reader = try PaxTarReader(path: path.string, name: displayName)
        while !wanted.isEmpty, let entry = try await BlockingIO.run({ try reader.next() }) {
            guard let layer = byOffset[entry.dataOffset], let descriptor = wanted.removeValue(forKey: layer.digest) else {
                try reader.skipData()
                continue
            }
            try await body(descriptor, Self.entryStream(reader))
        }
        if let missing = wanted.values.first {
            throw StorageError(.blobUnknown, "\(displayName): \(missing.digest) is gone from the archive")
        }
    }

    public func blobExists(_ digest: Digest, in repository: String) async throws -> Bool {
        guard !sink.isWriting, FileSystem.exists(path) else { return false }
        return try await contents().view.contains(digest)
    }

    public func blobSize(_ digest: Digest, in repository: String) async throws -> Int64? {
        guard !sink.isWriting, FileSystem.exists(path) else { return nil }
        return try await contents().view.size(of: digest)
    }

    public func manifestExists(_ digest: Digest, in repository: String) async throws -> Bool {
        guard !sink.isWriting, FileSystem.exists(path) else { return false }
        return try await contents().view.manifest.digest == digest
    }

    public func repositories() async throws -> [String] { [snapshotName(try await contents().scan)] }

    public func tags(in repository: String) async throws -> [String] {
        try checkRepository(repository, try await contents().scan)
        return ["latest"]
    }

    public var deletionRefusal: String { "an export tarball is written whole; nothing in it can be deleted" }

    // MARK: writing

    public var wantsSequentialBlobs: Bool { true }

    public func willCopy(_ plan: CopyPlan) async throws {
        guard plan.roots.count == 1, let root = plan.roots.first else {
            throw StorageError(.unsupported, "\(displayName): an export holds one snapshot; copy one artifact at a time (this copy has \(plan.roots.count))")
        }
        let writer = try await CocoonArchiveWriter(path: path, name: root.repository, displayName: displayName, modificationTime: options.created ?? Date())
        let newSink = SnapshotSink(
            displayName: displayName, spool: Spool(in: writer.destination.directory), materializer: writer)
        do {
            try newSink.willCopy(root.manifest)
        } catch {
            await writer.discard()
            throw error
        }
        sink.install([root.repository: newSink])
    }

    public func pushBlob(_ descriptor: Descriptor, from stream: ByteStream, in repository: String) async throws {
        try await sink.active(repository).pushBlob(descriptor, from: stream)
    }

    public func pushManifest(_ manifest: Manifest, as target: ManifestTarget, in repository: String) async throws {
        try sink.active(repository).pushManifest(manifest)
    }

    public func commit() async throws { try await sink.commit() }

    public func abort() async { await sink.abort() }
}

/// Writes the export tarball into a temporary file beside the destination, holding the
/// destination's lock until it is renamed into place or dropped.
final class CocoonArchiveWriter: SnapshotMaterializer {
    let destination: FileDestination
    private let name: String
    private let displayName: String
    private let modificationTime: Int64
    private let temp: TempFile
    private let tar: PaxTarWriter

    init(path: FilePath, name: String, displayName: String, modificationTime: Date) async throws {
        let compression = try naming(displayName) { try TarWriter.Compression(forFileName: path.lastComponent?.string ?? "") }
        self.name = name
        self.displayName = displayName
        self.modificationTime = Int64(modificationTime.timeIntervalSince1970.rounded(.down))
        let (destination, temp) = try await BlockingIO.run { try FileDestination.begin(path: path, displayName: displayName) }
        self.destination = destination
        self.temp = temp
        do {
            tar = try PaxTarWriter(fd: temp.rawDescriptor, compression: compression, name: displayName)
        } catch {
            temp.discard()
            destination.unlock()
            throw error
        }
    }

    func begin(_ parts: SnapshotArtifact.Parts) async throws {
        // A sparse map travels in a PAX header, which cocoon's import (Go's archive/tar) reads
        // only up to 1 MiB: an export it could not import is refused before it is written.
        for part in parts.files {
            guard let map = part.file.sparseMap else { continue }
            let bytes = map.jsonText.utf8.count + String(map.logicalSize).utf8.count + 64
            guard bytes <= PaxTarReader.recordLimit else {
                throw StorageError(
                    .unsupported,
                    "\(displayName): \(part.file.name) has \(map.segments.count) data runs, a sparse map of \(bytes) bytes; a cocoon export carries at most \(PaxTarReader.recordLimit >> 20) MiB of them per file (what cocoon's import reads): copy it into a cocoon root or a layout instead")
            }
        }
        var config = parts.config
        config.name = name
        let envelope = SnapshotEnvelope.encode(config)
        try tar.beginFile(path: SnapshotArtifact.envelopeName, size: Int64(envelope.count), mode: 0o644, modificationTime: modificationTime)
        try tar.write(envelope)
    }

    func write(_ file: SnapshotFile, from stream: ByteStream) async throws {
        var records: [(key: String, value: String)] = []
        if let map = file.sparseMap {
            records = [("COCOON.sparse.map", map.jsonText), ("COCOON.sparse.size", String(map.logicalSize))]
        }
        try tar.beginFile(path: file.name, size: file.storedSize, mode: file.mode & 0o777, modificationTime: modificationTime, records: records)
        let tar = self.tar
        for try await chunk in stream {
            try await BlockingIO.run { try tar.write(chunk) }
        }
    }

    func finish() async throws {
        let (tar, temp, destination) = (self.tar, self.temp, self.destination)
        defer { destination.unlock() }
        try await BlockingIO.run {
            try tar.finish()
            try destination.commit(temp)
        }
    }

    func discard() async {
        temp.discard()
        destination.unlock()
    }
}
