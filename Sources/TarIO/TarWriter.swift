import CArchive
import FerryCore

/// Writes a tar archive (PAX where needed, USTAR otherwise) to a file descriptor, compressed or
/// not. Headers are reproducible: mtime 0, uid/gid 0, no user or group names, no gzip timestamp.
/// One task uses a writer at a time; it may move between threads.
public final class TarWriter: @unchecked Sendable {
    /// How the archive is compressed.
    public enum Compression: String, Sendable {
        case none, gzip, zstd, xz

        /// The compression a file name asks for: `.tar.gz`/`.tgz` gzip, `.tar.zst` zstd,
        /// `.tar.xz`/`.txz` xz, else none. An ending that names another compression (`.bz2`,
        /// `.lz4`, …) is refused rather than written as a plain tar under a lying name.
        public init(forFileName name: String) throws {
            let lower = name.lowercased()
            if lower.hasSuffix(".tar.gz") || lower.hasSuffix(".tgz") || lower.hasSuffix(".gz") {
                self = .gzip
            } else if lower.hasSuffix(".tar.zst") || lower.hasSuffix(".tzst") || lower.hasSuffix(".zst") {
                self = .zstd
            } else if lower.hasSuffix(".tar.xz") || lower.hasSuffix(".txz") || lower.hasSuffix(".xz") {
                self = .xz
            } else if let ending = [".bz2", ".tbz", ".tbz2", ".lz4", ".lzma", ".tlz", ".lz", ".lzo", ".z", ".zip", ".7z"].first(where: lower.hasSuffix) {
                throw StorageError(.unsupported, "Ferry does not write '\(ending)' archives; name it .tar, .tar.gz, .tar.zst or .tar.xz")
            } else {
                self = .none
            }
        }
    }

    private let archive: OpaquePointer
    private let name: String
    /// gzip is ISA-L's, behind libarchive's tar framing.
    private let deflating: DeflatingOutput?

    /// Starts an archive on `fd`, which stays open and owned by the caller; `name` is for messages.
    public init(fd: Int32, compression: Compression, name: String) throws {
        guard let archive = archive_write_new() else { throw StorageError(.unknown, "\(name): out of memory") }
        self.archive = archive
        self.name = name
        archive_write_set_format_pax_restricted(archive)
        // No 10 KiB blocking: each chunk goes to the file in one write.
        archive_write_set_bytes_per_block(archive, 0)
        // gzip at level 1, as cocoon's export uses (layers are mostly compressed already, and
        // level 6 costs several times the CPU for a few percent), by ISA-L at several times
        // zlib's speed.
        deflating = compression == .gzip ? DeflatingOutput(fd: fd, name: name) : nil
        switch compression {
        case .none, .gzip:
            break
        case .zstd:
            archive_write_add_filter_zstd(archive)
            archive_write_set_filter_option(archive, "zstd", "threads", "2")
        case .xz:
            archive_write_add_filter_xz(archive)
            archive_write_set_filter_option(archive, "xz", "compression-level", "1")
            archive_write_set_filter_option(archive, "xz", "threads", "2")
        }
        let opened = deflating.map { $0.open(archive) } ?? archive_write_open_fd(archive, fd)
        guard opened == ARCHIVE_OK else { throw failure("cannot start the archive") }
    }

    private var finished = false

    /// Freeing an unfinished writer would flush its buffered tail into the descriptor, which the
    /// caller may have closed and reused by now; an unfinished archive is abandoned instead.
    deinit {
        if !finished { archive_write_fail(archive) }
        archive_write_free(archive)
    }

    /// Starts a regular file entry of `size` bytes; its data follows through `write(_:)`.
    public func beginFile(path: String, size: Int64, mode: UInt32 = 0o644) throws {
        guard let entry = archive_entry_new() else { throw StorageError(.unknown, "\(name): out of memory") }
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname(entry, path)
        archive_entry_set_filetype(entry, 0o100000)  // AE_IFREG
        archive_entry_set_perm(entry, mode_t(mode))
        archive_entry_set_size(entry, size)
        archive_entry_set_mtime(entry, 0, 0)
        archive_entry_set_uid(entry, 0)
        archive_entry_set_gid(entry, 0)
        guard archive_write_header(archive, entry) == ARCHIVE_OK else { throw failure("cannot write the header of \(path)") }
    }

    /// Appends data to the current entry.
    public func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { archive_write_data(archive, $0.baseAddress, $0.count) }
            guard n > 0 else { throw failure("cannot write") }
            offset += n
        }
    }

    /// Writes a whole small file.
    public func addFile(path: String, contents: [UInt8], mode: UInt32 = 0o644) throws {
        try beginFile(path: path, size: Int64(contents.count), mode: mode)
        try write(contents)
    }

    /// Writes the end-of-archive blocks and flushes the compressor. The descriptor stays open.
    public func finish() throws {
        finished = true
        guard archive_write_close(archive) == ARCHIVE_OK else { throw failure("cannot finish the archive") }
        try deflating?.writer.finish()
    }

    private func failure(_ what: String) -> StorageError {
        if let failure = deflating?.failure { return failure }
        let detail = archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
        return StorageError(.unknown, "\(name): \(what): \(detail)")
    }
}
