import CArchive
import FerryCore

/// Reads a tar archive (plain, gzip, zstd or xz: the compression is sniffed, never taken from
/// the file name) entry by entry, in one sequential pass.
/// One task uses a reader at a time; it may move between threads.
public final class TarReader: @unchecked Sendable {
    private let archive: OpaquePointer
    /// The archive, for messages.
    public let path: String
    private var entry: OpaquePointer?
    /// A gzip file is inflated by ISA-L and handed to libarchive as a plain tar.
    private let inflating: InflatingInput?

    /// Opens the archive at `path`; messages name it `name` (a location, say), else the path.
    public init(path filePath: String, name: String? = nil, blockSize: Int = 1 << 20) throws {
        let path = name ?? filePath
        guard let archive = archive_read_new() else { throw StorageError(.unknown, "\(path): out of memory") }
        self.archive = archive
        self.path = path
        archive_read_support_filter_all(archive)
        archive_read_support_format_tar(archive)
        inflating = InflatingInput(path: filePath, name: path)
        let opened = inflating.map { $0.open(archive) } ?? archive_read_open_filename(archive, filePath, blockSize)
        guard opened == ARCHIVE_OK else { throw failure("cannot open") }
    }

    deinit { archive_read_free(archive) }

    /// Whether the tar stream is compressed (known after the first `next()`).
    public var isCompressed: Bool { inflating != nil || archive_filter_count(archive) > 1 }

    /// The next entry's header, or nil at the end of the archive.
    public func next() throws -> TarEntry? {
        var header: OpaquePointer?
        let status = archive_read_next_header(archive, &header)
        if status == ARCHIVE_EOF { return nil }
        guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let header else {
            throw failure("not a readable tar archive")
        }
        entry = header
        guard let name = archive_entry_pathname(header) else { throw failure("an entry has no name") }
        return TarEntry(
            path: String(cString: name), kind: Self.kind(archive_entry_filetype(header), hardlink: archive_entry_hardlink(header) != nil),
            size: archive_entry_size(header), mode: UInt32(archive_entry_perm(header)),
            dataOffset: archive_filter_bytes(archive, 0))
    }

    /// Reads up to `count` bytes of the current entry's data; an empty array at its end.
    public func read(upTo count: Int) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            let n = archive_read_data(archive, buffer.baseAddress, count)
            guard n >= 0 else {
                initialized = 0
                throw failure("truncated or corrupt")
            }
            initialized = n
        }
    }

    /// Skips the rest of the current entry's data.
    public func skipData() throws {
        guard archive_read_data_skip(archive) == ARCHIVE_OK else { throw failure("truncated or corrupt") }
    }

    private func failure(_ what: String) -> StorageError {
        if let failure = inflating?.failure { return failure }
        let detail = archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
        return StorageError(.unknown, "\(path): \(what): \(detail)")
    }

    private static func kind(_ type: mode_t, hardlink: Bool) -> TarEntry.Kind {
        if hardlink { return .hardLink }
        switch Int32(type) & 0o170000 {
        case 0o100000: return .regular
        case 0o040000: return .directory
        case 0o120000: return .symbolicLink
        case 0o020000: return .characterDevice
        case 0o060000: return .blockDevice
        case 0o010000: return .fifo
        default: return .socket
        }
    }
}
