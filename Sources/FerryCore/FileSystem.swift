import Foundation
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// File-system operations on paths the user named (a location's own path, an archive file);
/// everything inside a location goes through `ContainedDirectory`. Each failure becomes a
/// `StorageError` that names the path.
public enum FileSystem {
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

    /// Whether `path` is a directory.
    public static func isDirectory(_ path: FilePath) -> Bool {
        var info = stat()
        return stat(path.string, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
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

    /// Opens a file or directory the user named, turning errno into a message that names the
    /// location (`displayName`) and the path.
    public static func open(
        _ path: FilePath, _ mode: FileDescriptor.AccessMode, options: FileDescriptor.OpenOptions = [], displayName: String? = nil
    ) throws -> FileDescriptor {
        do {
            return try FileDescriptor.open(path, mode, options: options.union(.closeOnExec), permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch let errno as Errno {
            let place = displayName.map { "\($0): " } ?? ""
            throw StorageError(errno == .noSuchFileOrDirectory ? .nameUnknown : .unknown, "\(place)cannot open \(path): \(errno)")
        }
    }

    static func failure(_ path: FilePath, _ operation: String) -> StorageError {
        StorageError(.unknown, "\(path): \(operation): \(Errno(rawValue: errno))")
    }
}
