import CArchive
import FerryCore

#if canImport(Glibc)
    import Glibc
#endif

/// Writes a tar (USTAR headers, a PAX header before an entry that needs one) with any PAX records
/// the caller gives, such as cocoon's `COCOON.sparse.map`, which libarchive's tar writer cannot
/// emit. Plain output goes to the descriptor in 1 MiB writes; gzip goes through ISA-L.
/// One task uses a writer at a time.
public final class PaxTarWriter: @unchecked Sendable {
    private let fd: Int32
    private let name: String
    private var compressor: GzipWriter?
    private var pending: [UInt8] = []
    private var remaining: Int64 = 0
    private var padding = 0
    private var finished = false

    static let flushSize = 1 << 20

    /// Starts a tar on `fd` (owned by the caller); `name` is for messages.
    public init(fd: Int32, compression: TarWriter.Compression, name: String) throws {
        self.fd = fd
        self.name = name
        pending.reserveCapacity(Self.flushSize + 1024)
        switch compression {
        case .none:
            break
        case .gzip:
            compressor = GzipWriter(fd: fd, name: name)
        case .zstd, .xz:
            throw StorageError(.unsupported, "\(name): cocoon export tarballs are plain or gzip (name it .tar or .tar.gz)")
        }
    }

    /// Starts a regular file of `size` bytes, preceded by a PAX header when records are given, the
    /// name is longer than 100 bytes, or the size or mtime needs more than 11 octal digits.
    public func beginFile(path: String, size: Int64, mode: UInt32, modificationTime: Int64 = 0, records: [(key: String, value: String)] = []) throws {
        guard remaining == 0 else { throw StorageError(.unknown, "\(name): the previous entry is \(remaining) bytes short") }
        guard !finished else { throw StorageError(.unknown, "\(name): \(path) comes after the end of the archive") }
        guard size >= 0 else { throw StorageError(.unknown, "\(name): \(path) has a negative size (\(size))") }
        if let bad = records.first(where: { $0.key.isEmpty || $0.key.utf8.contains { $0 == UInt8(ascii: "=") || $0 == 0 || $0 == 0x0A } }) {
            throw StorageError(.unknown, "\(name): \(path): \"\(bad.key)\" cannot be a PAX record key")
        }
        var all = records
        let longName = path.utf8.count > 100
        if longName { all.insert(("path", path), at: 0) }
        let bigSize = size >= 0o777_7777_7777
        if bigSize { all.insert(("size", String(size)), at: 0) }
        let octalTime = 0...0o777_7777_7777 ~= modificationTime
        if !octalTime { all.insert(("mtime", String(modificationTime)), at: 0) }
        if !all.isEmpty {
            let body = all.reduce(into: [UInt8]()) { $0 += Self.record($1.key, $1.value) }
            let base = path.split(separator: "/").last.map(String.init) ?? path
            let headerName = "PaxHeaders.0/" + String(decoding: Array(base.utf8).prefix(80), as: UTF8.self)
            try emit(Self.header(name: headerName, size: Int64(body.count), mode: 0o644, mtime: octalTime ? modificationTime : 0, type: "x"))
            try emit(body + [UInt8](repeating: 0, count: (512 - body.count % 512) % 512))
        }
        let shortName = longName ? String(decoding: Array(path.utf8).prefix(100), as: UTF8.self) : path
        try emit(Self.header(name: shortName, size: bigSize ? 0 : size, mode: mode, mtime: octalTime ? modificationTime : 0, type: "0"))
        remaining = size
        padding = Int((512 - size % 512) % 512)
        if size == 0 { padding = 0 }
    }

    /// The next bytes of the current entry.
    public func write(_ bytes: [UInt8]) throws {
        guard Int64(bytes.count) <= remaining else { throw StorageError(.unknown, "\(name): more bytes than the entry's size") }
        try emit(bytes)
        remaining -= Int64(bytes.count)
        if remaining == 0, padding > 0 {
            try emit([UInt8](repeating: 0, count: padding))
            padding = 0
        }
    }

    /// Ends the archive (two zero blocks) and flushes everything; the descriptor stays open.
    public func finish() throws {
        guard remaining == 0 else { throw StorageError(.unknown, "\(name): the last entry is \(remaining) bytes short") }
        guard !finished else { return }
        try emit([UInt8](repeating: 0, count: 1024))
        try flush()
        try compressor?.finish()
        finished = true
    }

    // MARK: output

    private func emit(_ bytes: [UInt8]) throws {
        if pending.count + bytes.count > Self.flushSize { try flush() }
        if bytes.count >= Self.flushSize {
            try output(bytes)
        } else {
            pending += bytes
        }
    }

    private func flush() throws {
        guard !pending.isEmpty else { return }
        try output(pending)
        pending.removeAll(keepingCapacity: true)
    }

    private func output(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n: Int
                if let compressor {
                    try compressor.write(UnsafeRawBufferPointer(rebasing: raw[done...]))
                    n = raw.count - done
                } else {
                    n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                    if n < 0, errno == EINTR { continue }
                    guard n > 0 else { throw StorageError(.unknown, "\(name): cannot write: \(String(cString: strerror(errno)))") }
                }
                done += n
            }
        }
    }

    // MARK: encoding

    /// `"%d key=value\n"`, the length counting itself.
    static func record(_ key: String, _ value: String) -> [UInt8] {
        let body = key.utf8.count + value.utf8.count + 3
        var length = body + String(body).count
        if String(length).count != String(body).count { length = body + String(length).count }
        return Array("\(length) \(key)=\(value)\n".utf8)
    }

    /// A USTAR header block: uid/gid 0, no user names, checksum filled in.
    static func header(name: String, size: Int64, mode: UInt32, mtime: Int64, type: Character) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, _ offset: Int, _ length: Int) {
            for (i, byte) in text.utf8.prefix(length).enumerated() { block[offset + i] = byte }
        }
        func octal(_ value: Int64, _ offset: Int, _ length: Int) {
            let digits = String(value, radix: 8)
            put(String(repeating: "0", count: max(0, length - 1 - digits.count)) + digits, offset, length - 1)
        }
        put(name, 0, 100)
        octal(Int64(mode), 100, 8)
        octal(0, 108, 8)
        octal(0, 116, 8)
        octal(size, 124, 12)
        octal(max(0, mtime), 136, 12)
        block[156] = type.asciiValue!
        put("ustar\0", 257, 6)
        put("00", 263, 2)
        for i in 148..<156 { block[i] = 0x20 }
        let sum = block.reduce(0) { $0 + Int($1) }
        let digits = String(sum, radix: 8)
        put(String(repeating: "0", count: max(0, 6 - digits.count)) + digits, 148, 6)
        block[154] = 0
        block[155] = 0x20
        return block
    }
}
