import FerryCore
import Foundation
import OCI
import SystemPackage
import TarIO

/// The parts of a `cocoon snapshot export` tarball (FORMATS.md §6): the envelope and the data
/// files, each hashed while the archive is scanned, with where its bytes are.
struct CocoonArchiveScan: Sendable {
    var config: SnapshotConfig
    var files: [(file: SnapshotFile, digest: Digest)]
    /// Offsets of each file's stored bytes in the uncompressed tar stream, by file name.
    var offsets: [String: Int64]
    var compressed: Bool

    /// The largest `snapshot.json` accepted.
    static let envelopeLimit = 1 << 20
    /// The most entries an export may have: a snapshot is a handful of files (a disk, memory,
    /// state, configs), and what is kept per entry must not grow without bound.
    static let entryLimit = 10_000

    /// Reads the whole archive once, as cocoon's import would take it: names reduced to their
    /// base name, only regular entries, the last entry of a name winning.
    static func scan(_ path: FilePath, displayName: String) throws -> CocoonArchiveScan {
        let reader = try PaxTarReader(path: path.string, name: displayName)
        var config: SnapshotConfig?
        var files: [String: (file: SnapshotFile, digest: Digest, order: Int)] = [:]
        var offsets: [String: Int64] = [:]
        var order = 0
        var entries = 0
        while let entry = try reader.next() {
            entries += 1
            guard entries <= entryLimit else {
                throw StorageError(.unknown, "\(displayName): invalid snapshot archive: more than \(entryLimit) entries (a snapshot is a few files)")
            }
            let name = String(entry.path.split(separator: "/").last ?? "")
            guard entry.isRegular, ArchiveName.isPlainFileName(name) else {
                try reader.skipData()
                continue
            }
            if name == "snapshot.json" {
                guard entry.size <= Int64(envelopeLimit) else {
                    throw StorageError(.unknown, "\(displayName): snapshot.json is larger than \(envelopeLimit >> 20) MiB")
                }
                var bytes: [UInt8] = []
                while case let chunk = try reader.read(upTo: ByteStream.chunkSize), !chunk.isEmpty { bytes += chunk }
                config = try SnapshotEnvelope.parse(bytes, what: "\(displayName): snapshot.json")
                continue
            }
            var file = SnapshotFile(name: name, mode: entry.mode & 0o7777, size: entry.size)
            if let text = entry.records["COCOON.sparse.map"] {
                try file.applySparseMap(text, logicalSize: entry.records["COCOON.sparse.size"].flatMap { Int64($0) }, what: "\(displayName): \(entry.path)")
            }
            var hasher = DigestHasher(.sha256)
            var seen: Int64 = 0
            while case let chunk = try reader.read(upTo: ByteStream.chunkSize), !chunk.isEmpty {
                chunk.withUnsafeBytes { hasher.update($0) }
                seen += Int64(chunk.count)
            }
            guard seen == entry.size else { throw StorageError(.unknown, "\(displayName): \(entry.path): truncated") }
            files[name] = (file, hasher.finalize(), order)
            offsets[name] = entry.dataOffset
            order += 1
        }
        guard let config else {
            throw StorageError(.unknown, "\(displayName): invalid snapshot archive: snapshot.json not found")
        }
        let ordered = files.values.sorted { $0.order < $1.order }.map { (file: $0.file, digest: $0.digest) }
        return CocoonArchiveScan(config: config, files: ordered, offsets: offsets, compressed: reader.isCompressed)
    }
}

/// `snapshot.json`, the envelope of an export: `{"config": …, "version": 1}`.
enum SnapshotEnvelope {
    static func parse(_ bytes: [UInt8], what: String) throws -> SnapshotConfig {
        let json: GoJSON
        do { json = try GoJSON(parsing: bytes) } catch { throw StorageError(.unknown, "\(what): \(error)") }
        guard json["version"]?.int64Value == 1 else {
            throw StorageError(.unknown, "\(what): version is \(json["version"]?.compact() ?? "missing"), not 1")
        }
        guard let config = json["config"] else { throw StorageError(.unknown, "\(what): no config") }
        return try SnapshotConfig(config, what: "\(what): config")
    }

    /// As current cocoon writes it: indented, `config` first, then `version`, and a newline.
    static func encode(_ config: SnapshotConfig) -> [UInt8] {
        let document = GoJSON.object([
            ("config", .object(config.members().map { GoJSON.Member($0.0, $0.1) } + config.unknown)), ("version", .int(1)),
        ])
        return Array((document.indented() + "\n").utf8)
    }
}
