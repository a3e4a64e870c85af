import Foundation
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// The small set of file-system operations that the directory backends share: locks, durable
/// renames and listing. Each failure becomes a `StorageError` that names the path.
public enum FileSystem {
    /// Runs `body` holding a `flock(2)` on `path` (a file or a directory), shared or exclusive.
    public static func withLock<T>(on path: FilePath, shared: Bool = false, _ body: () throws -> T) throws -> T {
        let fd = try open(path, .readOnly)
        defer { try? fd.close() }
        while flock(fd.rawValue, shared ? LOCK_SH : LOCK_EX) != 0 {
            guard errno == EINTR else { throw failure(path, "lock") }
        }
        return try body()
    }

    /// Writes `bytes` to `path` through a locked temporary file beside it, fsync'ed and renamed
    /// into place; the directory is fsync'ed after the rename. The caller holds the exclusive lock
    /// of the tree, so no sweep can run meanwhile.
    public static func writeAtomically(_ bytes: [UInt8], to path: FilePath) throws {
        let temp = try TempFile(beside: path, lockRoot: nil)
        do {
            try temp.write(bytes)
            try temp.commit(to: path)
        } catch {
            temp.discard()
            throw error
        }
        try syncDirectory(path.removingLastComponent())
    }

    /// fsyncs a directory so that renames inside it survive a crash.
    public static func syncDirectory(_ path: FilePath) throws {
        let fd = try open(path, .readOnly)
        defer { try? fd.close() }
        guard fsync(fd.rawValue) == 0 else { throw failure(path, "fsync") }
    }

    /// Removes temporary files (`.ferry-*.tmp`) in `directories` whose writers have gone: a live
    /// writer holds a lock on its temporary file, so only orphans can be locked. Runs under an
    /// exclusive lock on `lockRoot`, which writers hold shared while they create a temporary file.
    public static func sweepTemporaryFiles(in directories: [FilePath], lockRoot: FilePath) throws {
        try withLock(on: lockRoot) {
            for directory in directories {
                for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.string)) ?? []
                where TempFile.isTemporaryName(name) {
                    let path = directory.appending(name)
                    guard let fd = try? FileDescriptor.open(path, .readOnly, options: [.closeOnExec]) else { continue }
                    if flock(fd.rawValue, LOCK_EX | LOCK_NB) == 0 { unlink(path.string) }
                    try? fd.close()
                }
            }
        }
    }

    /// `path` made absolute against the working directory, so that its directory is never empty
    /// and paths written into files (cocoon's `data_dir`) stay valid from anywhere.
    public static func absolute(_ path: String) -> FilePath {
        let given = FilePath(path)
        return given.isAbsolute ? given.lexicallyNormalized() : FilePath(FileManager.default.currentDirectoryPath).pushing(given).lexicallyNormalized()
    }

    /// Whether something exists at `path`.
    public static func exists(_ path: FilePath) -> Bool {
        var info = stat()
        return lstat(path.string, &info) == 0
    }

    /// The size of a regular file, or nil when there is none.
    public static func regularFileSize(_ path: FilePath) -> Int64? {
        var info = stat()
        guard stat(path.string, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(info.st_size)
    }

    /// When a file was last modified.
    public static func modificationDate(_ path: FilePath) -> Date? {
        var info = stat()
        guard stat(path.string, &info) == 0 else { return nil }
        return Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
    }

    /// Sets a file's times to now; failures (a read-only tree) are ignored.
    public static func touch(_ path: FilePath) {
        _ = utimensat(AT_FDCWD, path.string, nil, 0)
    }

    /// Whether `path` is a directory.
    public static func isDirectory(_ path: FilePath) -> Bool {
        var info = stat()
        return stat(path.string, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates a directory; returns false when it already existed.
    @discardableResult
    public static func makeDirectory(_ path: FilePath) throws -> Bool {
        if mkdir(path.string, 0o755) == 0 { return true }
        if errno == EEXIST, isDirectory(path) { return false }
        throw failure(path, "create directory")
    }

    /// Reads a whole small file, failing past `limit` bytes.
    public static func readFile(_ path: FilePath, limit: Int) throws -> [UInt8] {
        let fd = try open(path, .readOnly)
        defer { try? fd.close() }
        var result = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try fd.read(into: $0, retryOnInterrupt: true) }
            if n == 0 { return result }
            guard result.count + n <= limit else {
                throw StorageError(.sizeInvalid, "\(path): larger than \(limit) bytes")
            }
            result += chunk[..<n]
        }
    }

    /// Opens a file or directory, turning errno into a message that names it.
    public static func open(_ path: FilePath, _ mode: FileDescriptor.AccessMode, options: FileDescriptor.OpenOptions = []) throws -> FileDescriptor {
        do {
            return try FileDescriptor.open(path, mode, options: options.union(.closeOnExec), permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch let errno as Errno {
            throw StorageError(errno == .noSuchFileOrDirectory ? .nameUnknown : .unknown, "\(path): \(errno)")
        }
    }

    static func failure(_ path: FilePath, _ operation: String) -> StorageError {
        StorageError(.unknown, "\(path): \(operation): \(Errno(rawValue: errno))")
    }
}
