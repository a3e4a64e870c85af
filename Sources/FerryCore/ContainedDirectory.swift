import CFerrySystem
import Foundation
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A directory that a location lives in, opened once: every path below it is resolved from its
/// descriptor without following a symlink or `..` at any depth (`openat2` with `RESOLVE_BENEATH`
/// and `RESOLVE_NO_SYMLINKS`, or a walk of `O_NOFOLLOW` opens where the kernel lacks it). A
/// symlink planted inside a location, or a directory swapped for one between a check and a use,
/// is refused instead of followed. Every file-based backend reaches its files through this type.
///
/// Relative paths are `/`-separated components; empty, `.` and `..` components and absolute
/// paths are refused before anything is opened.
public final class ContainedDirectory: @unchecked Sendable {
    /// The directory's path, for messages and for paths recorded in files (cocoon's `data_dir`).
    public let path: FilePath
    /// An open descriptor of the directory (read-only, close-on-exec).
    public let descriptor: Int32

    /// Opens the directory at `path`. Symlinks in `path` itself are the user's choice and are
    /// followed; nothing below it is. With `create`, a missing last component is made (0755).
    public init(opening path: FilePath, create: Bool = false) throws {
        if create, mkdir(path.string, 0o755) != 0, errno != EEXIST {
            throw FileSystem.failure(path, "create directory")
        }
        let fd = Glibc.open(path.string, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw StorageError(code == ENOENT ? .nameUnknown : .unknown, "\(path): \(ContainedDirectory.reason(code))")
        }
        self.path = path
        descriptor = fd
    }

    private init(descriptor: Int32, path: FilePath) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { close(descriptor) }

    /// For tests: makes every lookup use the `O_NOFOLLOW` walk instead of `openat2`, so that the
    /// fallback for older kernels is exercised where `openat2` exists.
    public static func useWalkForTesting(_ on: Bool) { ferry_set_beneath_walk(on ? 1 : 0) }

    /// The components of a relative path, refusing any that could leave the directory.
    public static func components(of relative: String) throws -> [String] {
        let parts = relative.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !relative.isEmpty, !relative.hasPrefix("/"), !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }),
            !relative.utf8.contains(0)
        else {
            throw StorageError(.nameInvalid, "'\(relative)' is not a path inside a location (absolute, empty, '.' or '..' components)")
        }
        return parts
    }

    /// Whether `name` may be one component of a path inside a location.
    public static func isComponent(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.utf8.contains(0)
    }

    /// The path of `relative`, for messages.
    public func path(of relative: String) -> FilePath { path.appending(relative) }

    // MARK: opening

    /// Opens `relative` with `flags` (`O_RDONLY`, `O_WRONLY | O_CREAT | O_EXCL`, …) without
    /// following a symlink or leaving the directory.
    public func open(_ relative: String, _ flags: Int32, mode: mode_t = 0o644) throws -> FileDescriptor {
        _ = try Self.components(of: relative)
        let fd = ferry_open_beneath(descriptor, relative, flags | O_CLOEXEC, UInt32(mode))
        guard fd >= 0 else { throw failure(relative, errno) }
        return FileDescriptor(rawValue: fd)
    }

    /// Opens a regular file for reading. A FIFO or device is refused without blocking on it.
    public func openForReading(_ relative: String) throws -> (descriptor: FileDescriptor, size: Int64) {
        let fd = try open(relative, O_RDONLY | O_NONBLOCK)
        var info = stat()
        guard fstat(fd.rawValue, &info) == 0 else {
            let code = errno
            try? fd.close()
            throw failure(relative, code)
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            try? fd.close()
            throw StorageError(.unknown, "\(path(of: relative)): is a \(Self.kind(info.st_mode)), not a regular file")
        }
        _ = fcntl(fd.rawValue, F_SETFL, fcntl(fd.rawValue, F_GETFL) & ~O_NONBLOCK)
        return (fd, Int64(info.st_size))
    }

    /// The directory `relative` below this one, made (with its parents) when `create` is set.
    public func subdirectory(_ relative: String, create: Bool = false) throws -> ContainedDirectory {
        let parts = try Self.components(of: relative)
        var current = descriptor
        defer { if current != descriptor { close(current) } }
        for part in parts {
            if create, mkdirat(current, part, 0o755) != 0, errno != EEXIST { throw failure(relative, errno) }
            let next = ferry_open_beneath(current, part, O_RDONLY | O_DIRECTORY, 0)
            guard next >= 0 else { throw failure(relative, errno) }
            if current != descriptor { close(current) }
            current = next
        }
        let opened = ContainedDirectory(descriptor: current, path: path.appending(relative))
        current = descriptor
        return opened
    }

    /// The directory that holds `relative` and the last component's name.
    public func parent(of relative: String, create: Bool = false) throws -> (directory: ContainedDirectory, name: String) {
        let parts = try Self.components(of: relative)
        guard parts.count > 1 else { return (self, parts[0]) }
        return (try subdirectory(parts.dropLast().joined(separator: "/"), create: create), parts.last!)
    }

    // MARK: looking

    /// What is at a path, without following a symlink there.
    public struct Status: Sendable {
        public var type: mode_t
        public var size: Int64
        public var modified: Date
        public var isRegularFile: Bool { type == S_IFREG }
        public var isDirectory: Bool { type == S_IFDIR }
        /// "FIFO", "symlink", "block device", …
        public var kind: String { ContainedDirectory.kind(type) }
    }

    /// The status of `relative`, or nil when nothing is there (or a symlink is on the way).
    public func status(_ relative: String) -> Status? {
        // One contained open of the path itself (O_PATH: no access needed, a symlink at the end
        // is opened as itself) and an fstat.
        guard (try? Self.components(of: relative)) != nil else { return nil }
        let fd = ferry_open_beneath(descriptor, relative, ferry_o_path() | O_NOFOLLOW | O_CLOEXEC, 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        return Status(
            type: info.st_mode & S_IFMT, size: Int64(info.st_size),
            modified: Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9))
    }

    /// The size of a regular file at `relative`; nil for anything else (a symlink included).
    public func regularFileSize(_ relative: String) -> Int64? {
        status(relative).flatMap { $0.isRegularFile ? $0.size : nil }
    }

    /// Whether anything is at `relative`.
    public func exists(_ relative: String) -> Bool { status(relative) != nil }

    /// The names in the directory `relative` (this one when nil), `.` and `..` left out.
    public func entries(_ relative: String? = nil) throws -> [String] {
        let fd: Int32
        if let relative {
            fd = try open(relative, O_RDONLY | O_DIRECTORY).rawValue
        } else {
            fd = openat(descriptor, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { throw failure(".", errno) }
        }
        guard let stream = fdopendir(fd) else {
            let code = errno
            close(fd)
            throw failure(relative ?? ".", code)
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }

    /// Reads a whole small regular file, failing past `limit` bytes.
    public func readFile(_ relative: String, limit: Int) throws -> [UInt8] {
        let (fd, size) = try openForReading(relative)
        defer { try? fd.close() }
        guard size <= Int64(limit) else { throw StorageError(.sizeInvalid, "\(path(of: relative)): larger than \(limit) bytes") }
        var result = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n: Int
            do {
                n = try chunk.withUnsafeMutableBytes { try fd.read(into: $0, retryOnInterrupt: true) }
            } catch let errno as Errno {
                throw StorageError(.unknown, "\(path(of: relative)): read: \(errno)")
            }
            if n == 0 { return result }
            guard result.count + n <= limit else { throw StorageError(.sizeInvalid, "\(path(of: relative)): larger than \(limit) bytes") }
            result += chunk[..<n]
        }
    }

    // MARK: changing

    /// Writes `bytes` to `relative` through a locked temporary file beside it, fsync'ed and
    /// renamed into place; the directory is fsync'ed after the rename.
    public func writeAtomically(_ bytes: [UInt8], to relative: String, mode: mode_t = 0o644) throws {
        let (directory, name) = try parent(of: relative)
        let temp = try TempFile(in: directory, lockRoot: nil, mode: mode)
        do {
            try temp.write(bytes)
            try temp.commit(to: name)
        } catch {
            temp.discard()
            throw error
        }
        try directory.sync()
    }

    /// Refuses a destination name where something other than a regular file (or a symlink to
    /// one, or nothing) stands: a FIFO, a device, a directory is never replaced.
    public func checkReplaceable(_ name: String) throws {
        var info = stat()
        guard fstatat(descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        var type = info.st_mode & S_IFMT
        if type == S_IFLNK, fstatat(descriptor, name, &info, 0) == 0 { type = info.st_mode & S_IFMT }
        guard type == S_IFREG || type == S_IFLNK else {
            throw StorageError(.nameInvalid, "\(path(of: name)): is a \(Self.kind(type)), not a regular file; refusing to replace it")
        }
    }

    /// Removes the file (or symlink) at `relative`; false when nothing was there. A directory is
    /// refused.
    @discardableResult
    public func removeFile(_ relative: String) throws -> Bool {
        let (directory, name) = try parent(of: relative)
        if unlinkat(directory.descriptor, name, 0) == 0 { return true }
        if errno == ENOENT { return false }
        throw failure(relative, errno)
    }

    /// Removes `relative` and everything below it, never following a symlink out of it.
    public func removeTree(_ relative: String) throws {
        let (directory, name) = try parent(of: relative)
        var info = stat()
        guard fstatat(directory.descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            let inner = try directory.subdirectory(name)
            for entry in try inner.entries() { try inner.removeTree(entry) }
            guard unlinkat(directory.descriptor, name, AT_REMOVEDIR) == 0 || errno == ENOENT else { throw failure(relative, errno) }
        } else {
            guard unlinkat(directory.descriptor, name, 0) == 0 || errno == ENOENT else { throw failure(relative, errno) }
        }
    }

    /// Renames `from` to `to`, both inside this directory tree.
    public func rename(_ from: String, to: String) throws {
        let (source, sourceName) = try parent(of: from)
        let (target, targetName) = try parent(of: to)
        guard renameat(source.descriptor, sourceName, target.descriptor, targetName) == 0 else { throw failure(to, errno) }
    }

    /// Sets the times of `relative` to now (a copy relies on it); failures are ignored.
    public func touch(_ relative: String) {
        guard let (directory, name) = try? parent(of: relative) else { return }
        _ = utimensat(directory.descriptor, name, nil, AT_SYMLINK_NOFOLLOW)
    }

    /// fsyncs the directory, so that renames inside it survive a crash.
    public func sync() throws {
        guard fsync(descriptor) == 0 else { throw FileSystem.failure(path, "fsync") }
    }

    /// Runs `body` holding a `flock(2)` on this directory, shared or exclusive. Each call locks
    /// through a descriptor of its own, so two tasks of one process exclude each other too.
    public func withLock<T>(shared: Bool = false, _ body: () throws -> T) throws -> T {
        let fd = openat(descriptor, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileSystem.failure(path, "open") }
        defer { close(fd) }
        while flock(fd, shared ? LOCK_SH : LOCK_EX) != 0 {
            guard errno == EINTR else { throw FileSystem.failure(path, "lock") }
        }
        return try body()
    }

    /// Runs `body` holding an exclusive `flock(2)` on this directory across suspension points: what
    /// `ferry gc` holds while it removes, so that a writer's lock excludes it.
    public func holdingLock<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        let path = self.path
        let descriptor = self.descriptor
        let fd = try await BlockingIO.run { () -> Int32 in
            let fd = openat(descriptor, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { throw FileSystem.failure(path, "open") }
            while flock(fd, LOCK_EX) != 0 {
                guard errno == EINTR else {
                    close(fd)
                    throw FileSystem.failure(path, "lock")
                }
            }
            return fd
        }
        defer { close(fd) }
        return try await body()
    }

    /// Removes temporary files and directories (`.ferry-*.tmp`) in `directories` whose writers
    /// have gone: a live writer holds a lock on its temporary file or directory, so only orphans
    /// can be locked. Runs under an exclusive lock on this directory, which writers hold shared
    /// while they create one. Returns how many it removed.
    @discardableResult
    public func sweepTemporaryFiles(in directories: [ContainedDirectory]) throws -> Int {
        try withLock {
            var removed = 0
            for directory in directories {
                for name in (try? directory.entries()) ?? [] where TempFile.isTemporaryName(name) {
                    switch directory.abandonedType(name) {
                    case S_IFREG:
                        if unlinkat(directory.descriptor, name, 0) == 0 { removed += 1 }
                    case S_IFDIR:
                        if (try? directory.removeTree(name)) != nil { removed += 1 }
                    default:
                        continue
                    }
                }
            }
            return removed
        }
    }

    /// The type (`S_IFREG`, `S_IFDIR`) of the regular file or directory at `relative` when
    /// nobody holds a lock on it: a writer locks what it is still making (a temporary file or
    /// directory, a cocoon writer's lock file), so only what a killed writer left can be locked
    /// here. Nil for anything else, or one a live writer holds.
    public func abandonedType(_ relative: String) -> mode_t? {
        guard (try? Self.components(of: relative)) != nil else { return nil }
        let fd = ferry_open_beneath(descriptor, relative, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, [S_IFREG, S_IFDIR].contains(info.st_mode & S_IFMT), flock(fd, LOCK_EX | LOCK_NB) == 0 else { return nil }
        return info.st_mode & S_IFMT
    }

    /// Makes a temporary directory `.ferry-<label>-<random>.tmp` here (`mode`, less the umask)
    /// and locks it for as long as the returned directory stays open, so that
    /// `sweepTemporaryFiles` removes it only once its writer has gone. It is made under a shared
    /// lock on this directory (the sweep's lock).
    public func makeTemporaryDirectory(label: String, mode: mode_t = 0o700) throws -> ContainedDirectory {
        try withLock(shared: true) {
            for _ in 0..<8 {
                let name = ".ferry-\(label)-\(String(UInt64.random(in: 0...UInt64.max), radix: 16)).tmp"
                guard mkdirat(descriptor, name, mode) == 0 else {
                    if errno == EEXIST { continue }
                    throw failure(name, errno)
                }
                let made = try subdirectory(name)
                guard flock(made.descriptor, LOCK_EX | LOCK_NB) == 0 else {
                    throw FileSystem.failure(made.path, "lock")
                }
                return made
            }
            throw StorageError(.unknown, "\(path): no free temporary name")
        }
    }

    // MARK: messages

    func failure(_ relative: String, _ code: Int32) -> StorageError {
        StorageError(code == ENOENT ? .nameUnknown : .unknown, "\(path(of: relative)): \(Self.reason(code))")
    }

    static func reason(_ code: Int32) -> String {
        switch code {
        case ELOOP: "a symlink is in the way (Ferry does not follow symlinks inside a location)"
        case EXDEV: "the path leaves the location"
        case ENOTDIR: "a component is not a directory (or is a symlink)"
        default: "\(Errno(rawValue: code))"
        }
    }

    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "regular file"
        case S_IFDIR: "directory"
        case S_IFLNK: "symlink"
        case S_IFIFO: "FIFO"
        case S_IFCHR: "character device"
        case S_IFBLK: "block device"
        case S_IFSOCK: "socket"
        default: "special file"
        }
    }
}

/// A location's directory, opened on first use and kept: backends are made before anything is
/// read or created, and open their root when first asked.
public final class DirectorySlot: Sendable {
    private let opened = Mutex<ContainedDirectory?>(nil)

    public init() {}

    /// The directory, opened by `open` the first time (a failed open is tried again next time).
    public func get(_ open: () throws -> ContainedDirectory) throws -> ContainedDirectory {
        if let done = opened.withLock({ $0 }) { return done }
        let made = try open()
        return opened.withLock { current in
            if let current { return current }
            current = made
            return made
        }
    }
}

/// A temporary directory to work in: `.ferry-<label>-<random>.tmp`, locked for as long as this
/// lives (so a sweep takes it only once its owner has gone), and the free directory `inside` it
/// where work happens. Work goes one level down because the temporary directory's own lock would
/// block any writer in it that takes its directory's lock (a layout being made, an archive
/// being written).
public final class TemporaryWorkspace: Sendable {
    /// Where to put things.
    public let inside: ContainedDirectory
    private let parent: ContainedDirectory
    private let locked: ContainedDirectory

    public init(in parent: ContainedDirectory, label: String) throws {
        self.parent = parent
        locked = try parent.makeTemporaryDirectory(label: label)
        inside = try locked.subdirectory("work", create: true)
    }

    /// Removes the workspace and everything in it.
    public func remove() {
        if let name = locked.path.lastComponent?.string { try? parent.removeTree(name) }
    }
}
