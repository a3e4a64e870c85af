import CArchive
import FerryCore

#if canImport(Glibc)
    import Glibc
#endif

/// One entry of a tar read by `PaxTarReader`, with every PAX record it carries.
public struct PaxTarEntry: Sendable {
    public var path: String
    /// The raw type flag: `0` or NUL for a regular file.
    public var typeflag: UInt8
    /// Data bytes in the archive.
    public var size: Int64
    /// Permission bits.
    public var mode: UInt32
    public var modificationTime: Int64
    /// The records of the entry's PAX header, unknown ones (`COCOON.sparse.map`) included.
    public var records: [String: String]
    /// Where the data starts in the uncompressed tar stream.
    public var dataOffset: Int64

    public var isRegular: Bool { typeflag == UInt8(ascii: "0") || typeflag == 0 }
}

/// Reads a tar, plain or compressed (sniffed by libarchive), framing the entries itself so that
/// arbitrary PAX records reach the caller; libarchive's tar reader keeps only the ones it knows.
/// One task uses a reader at a time.
public final class PaxTarReader: @unchecked Sendable {
    private let archive: OpaquePointer
    public let path: String
    /// A gzip file is inflated by ISA-L and handed to libarchive as raw data.
    private let inflating: InflatingInput?
    private var buffer = [UInt8](repeating: 0, count: 1 << 20)
    private var start = 0
    private var end = 0
    /// Bytes of the uncompressed stream consumed before `buffer[start]`.
    private var consumed: Int64 = 0
    private var atEOF = false
    /// Data bytes of the current entry not yet read, and the padding after them.
    private var remaining: Int64 = 0
    private var padding: Int64 = 0

    /// The largest extended header Go's archive/tar reads (`maxSpecialFileSize`), and so cocoon's
    /// import: what a writer of exports must stay under.
    public static let recordLimit = 1 << 20
    /// The most extended-header bytes (`x`, `L`, `K` together) one entry may carry when reading,
    /// and the largest `g` header. More than Go reads: `cocoon snapshot export` writes the sparse
    /// map of a fragmented disk into one header (50,000 data runs take some 1.2 MB, 700,000 some
    /// 17 MB), and Ferry imports what cocoon exports, in bounded memory.
    public static let metadataLimit = 32 << 20

    /// Opens the tar at `path`; messages name it `name` (a reference, say), else the path.
    public init(path filePath: String, name: String? = nil) throws {
        let path = name ?? filePath
        guard let archive = archive_read_new() else { throw StorageError(.unknown, "\(path): out of memory") }
        self.archive = archive
        self.path = path
        archive_read_support_filter_all(archive)
        archive_read_support_format_raw(archive)
        inflating = InflatingInput(path: filePath, name: path)
        let opened = inflating.map { $0.open(archive) } ?? archive_read_open_filename(archive, filePath, 1 << 20)
        guard opened == ARCHIVE_OK else { throw failure("cannot open") }
        var header: OpaquePointer?
        let status = archive_read_next_header(archive, &header)
        if status == ARCHIVE_EOF {
            atEOF = true
        } else if status != ARCHIVE_OK && status != ARCHIVE_WARN {
            throw failure("not readable")
        }
    }

    deinit { archive_read_free(archive) }

    /// Whether the tar is compressed.
    public var isCompressed: Bool { inflating != nil || archive_filter_count(archive) > 1 }

    /// The next entry (skipping what is left of the current one), or nil at the end.
    public func next() throws -> PaxTarEntry? {
        try skipData()
        var records: [String: String] = [:]
        var longName: String?
        var pendingMetadata = false
        var metadataBytes = 0
        while true {
            guard try fill(512) else {
                if available == 0 && !pendingMetadata { return nil }
                throw StorageError(.unknown, "\(path): not a tar archive, or truncated (\(consumed + Int64(available)) bytes)")
            }
            let header = Array(buffer[start..<start + 512])
            if header.allSatisfy({ $0 == 0 }) {
                guard !pendingMetadata else { throw StorageError(.unknown, "\(path): an extended header at byte \(consumed) has no entry after it") }
                return nil
            }
            try verifyChecksum(header)
            let size = try number(header, 124, 12, "size")
            guard size >= 0, size < 1 << 62 else { throw StorageError(.unknown, "\(path): entry size \(size) is impossible") }
            advance(512)
            let typeflag = header[156]
            switch typeflag {
            case UInt8(ascii: "x"), UInt8(ascii: "g"), UInt8(ascii: "L"), UInt8(ascii: "K"):
                guard size <= Self.metadataLimit else { throw StorageError(.unknown, "\(path): a \(Character(UnicodeScalar(typeflag))) header of \(size) bytes is too large") }
                if typeflag != UInt8(ascii: "g") {
                    metadataBytes += Int(size)
                    guard metadataBytes <= Self.metadataLimit else {
                        throw StorageError(.unknown, "\(path): the extended headers before the entry at byte \(consumed) add up to more than \(Self.metadataLimit) bytes")
                    }
                }
                let data = try readWhole(Int(size))
                pendingMetadata = typeflag != UInt8(ascii: "g")
                if typeflag == UInt8(ascii: "x") {
                    records.merge(try parseRecords(data)) { _, new in new }
                } else if typeflag == UInt8(ascii: "L") {
                    longName = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
                } else if typeflag == UInt8(ascii: "g") {
                    _ = try parseRecords(data)
                }
                continue
            default:
                break
            }
            var name = string(header, 0, 100)
            if header[257..<263].elementsEqual("ustar\0".utf8) {
                let prefix = string(header, 345, 155)
                if !prefix.isEmpty { name = prefix + "/" + name }
            }
            if let longName { name = longName }
            if let paxPath = records["path"] { name = paxPath }
            var entrySize = size
            if let paxSize = records["size"] {
                guard let parsed = Int64(paxSize), parsed >= 0, parsed < 1 << 62 else { throw StorageError(.unknown, "\(path): bad PAX size \(paxSize)") }
                entrySize = parsed
            }
            var mtime = try number(header, 136, 12, "mtime")
            if let paxTime = records["mtime"], let seconds = Int64(paxTime.split(separator: ".").first ?? "") { mtime = seconds }
            let hasData = !Array("123456".utf8).contains(typeflag)
            remaining = hasData ? entrySize : 0
            padding = (512 - remaining % 512) % 512
            return PaxTarEntry(
                path: name, typeflag: typeflag, size: remaining, mode: UInt32(truncatingIfNeeded: try number(header, 100, 8, "mode")) & 0o7777,
                modificationTime: mtime, records: records, dataOffset: consumed)
        }
    }

    /// Up to `count` bytes of the current entry's data; empty at its end.
    public func read(upTo count: Int) throws -> [UInt8] {
        guard remaining > 0, count > 0 else { return [] }
        guard try fill(1) else { throw StorageError(.unknown, "\(path): truncated entry data") }
        let n = Int(min(Int64(min(count, available)), remaining))
        let chunk = Array(buffer[start..<start + n])
        advance(n)
        remaining -= Int64(n)
        return chunk
    }

    /// Skips the rest of the current entry and its padding.
    public func skipData() throws {
        var left = remaining + padding
        remaining = 0
        padding = 0
        while left > 0 {
            guard try fill(1) else { throw StorageError(.unknown, "\(path): truncated entry data") }
            let n = Int(min(Int64(available), left))
            advance(n)
            left -= Int64(n)
        }
    }

    // MARK: buffer

    private var available: Int { end - start }

    private func advance(_ count: Int) {
        start += count
        consumed += Int64(count)
    }

    /// Makes at least `count` bytes available; false at a clean end of the stream before that.
    private func fill(_ count: Int) throws -> Bool {
        if available >= count { return true }
        if start > 0 {
            buffer.withUnsafeMutableBytes { raw in
                _ = memmove(raw.baseAddress!, raw.baseAddress! + start, end - start)
            }
            end -= start
            start = 0
        }
        while available < count, !atEOF {
            let n = buffer.withUnsafeMutableBytes { archive_read_data(archive, $0.baseAddress! + end, $0.count - end) }
            if n < 0 { throw failure("corrupt or truncated") }
            if n == 0 { atEOF = true }
            end += n
        }
        return available >= count
    }

    private func readWhole(_ count: Int) throws -> [UInt8] {
        var data: [UInt8] = []
        data.reserveCapacity(count)
        while data.count < count {
            guard try fill(1) else { throw StorageError(.unknown, "\(path): truncated tar header data") }
            let n = min(available, count - data.count)
            data += buffer[start..<start + n]
            advance(n)
        }
        let pad = (512 - count % 512) % 512
        guard try fill(pad) else { throw StorageError(.unknown, "\(path): truncated tar header data") }
        advance(pad)
        return data
    }

    // MARK: fields

    private func verifyChecksum(_ header: [UInt8]) throws {
        var unsigned = 0
        var signed = 0
        for (index, byte) in header.enumerated() {
            let value = (148..<156).contains(index) ? 0x20 : byte
            unsigned += Int(value)
            signed += Int(Int8(bitPattern: value))
        }
        let stored = try number(header, 148, 8, "checksum")
        guard stored == unsigned || stored == signed else { throw StorageError(.unknown, "\(path): tar header checksum mismatch (not a tar, or corrupt)") }
    }

    private func number(_ header: [UInt8], _ offset: Int, _ length: Int, _ what: String) throws -> Int64 {
        let field = header[offset..<offset + length]
        if let first = field.first, first & 0x80 != 0 {
            let outOfRange = StorageError(.unknown, "\(path): tar header \(what) in base-256 is out of range")
            guard first == 0x80 else { throw outOfRange }
            var value: Int64 = 0
            for byte in field.dropFirst() {
                guard value < 1 << 55 else { throw outOfRange }
                value = value << 8 | Int64(byte)
            }
            return value
        }
        var value: Int64 = 0
        var started = false
        for byte in field {
            if byte == 0 || (byte == 0x20 && started) { break }
            if byte == 0x20 { continue }
            guard (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(byte), value < 1 << 60 else {
                throw StorageError(.unknown, "\(path): tar header \(what) is not an octal number")
            }
            value = value * 8 + Int64(byte - UInt8(ascii: "0"))
            started = true
        }
        return value
    }

    private func string(_ header: [UInt8], _ offset: Int, _ length: Int) -> String {
        String(decoding: header[offset..<offset + length].prefix { $0 != 0 }, as: UTF8.self)
    }

    /// `"%d key=value\n"` records; the length counts the whole record.
    private func parseRecords(_ data: [UInt8]) throws -> [String: String] {
        var records: [String: String] = [:]
        var index = 0
        while index < data.count {
            if data[index] == 0 { break }
            guard let space = data[index...].firstIndex(of: 0x20), (1...8).contains(space - index),
                  data[index..<space].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                  let length = Int(String(decoding: data[index..<space], as: UTF8.self)),
                  length > space - index + 1, length <= data.count - index, data[index + length - 1] == 0x0A,
                  let equals = data[(space + 1)..<(index + length)].firstIndex(of: UInt8(ascii: "="))
            else { throw StorageError(.unknown, "\(path): malformed PAX record at byte \(index) of its header") }
            let key = String(decoding: data[(space + 1)..<equals], as: UTF8.self)
            records[key] = String(decoding: data[(equals + 1)..<(index + length - 1)], as: UTF8.self)
            index += length
        }
        return records
    }

    private func failure(_ what: String) -> StorageError {
        if let failure = inflating?.failure { return failure }
        let detail = archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
        return StorageError(.unknown, "\(path): \(what): \(detail)")
    }
}
