import CFerrySystem
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A temporary file beside its final place (`.ferry-<random>.tmp`), locked while it is written
/// so that a sweeper can tell a live writer's file from a killed writer's. Content becomes visible
/// only by `commit(to:)`: fsync, then rename, both inside the file's contained directory.
public final class TempFile: @unchecked Sendable {
    /// The directory the file is in, and its name there.
    public let directory: ContainedDirectory
    public let name: String
    private let fd: FileDescriptor
    private var written: Int64 = 0
    private var flushedUpTo: Int64 = 0
    private var finished = false

    /// Writeback is started every this many bytes, so the disk works while the copy goes on and
    /// the fsync of `commit(to:)` waits only for the tail.
    static let writebackInterval: Int64 = 8 << 20

    /// Creates and locks a temporary file in `directory`. The file is created under a shared lock
    /// on `lockRoot`, so a sweep (exclusive) never sees it unlocked; pass nil when the caller
    /// already holds that lock exclusively, or when nothing sweeps the directory.
    public init(in directory: ContainedDirectory, lockRoot: ContainedDirectory?, mode: mode_t = 0o644) throws {
        var created: (String, FileDescriptor)?
        func create() throws {
            for _ in 0..<8 {
                let candidate = ".ferry-\(String(UInt64.random(in: 0...UInt64.max), radix: 16)).tmp"
                let raw = ferry_open_beneath(directory.descriptor, candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, UInt32(mode))
                if raw < 0 {
                    if errno == EEXIST { continue }
                    throw directory.failure(candidate, errno)
                }
                let fd = FileDescriptor(rawValue: raw)
                guard flock(raw, LOCK_EX) == 0 else {
                    try? fd.close()
                    throw FileSystem.failure(directory.path(of: candidate), "lock")
                }
                created = (candidate, fd)
                return
            }
        }
        if let lockRoot {
            try lockRoot.withLock(shared: true, create)
        } else {
            try create()
        }
        guard let (name, fd) = created else { throw StorageError(.unknown, "\(directory.path): no free temporary name") }
        self.directory = directory
        self.name = name
        self.fd = fd
    }

    /// The file's path, for messages.
    public var path: FilePath { directory.path(of: name) }

    /// The open descriptor, for writers that write to it themselves (an archive library).
    public var rawDescriptor: Int32 { fd.rawValue }

    /// Whether a directory entry is one of Ferry's temporary files.
    public static func isTemporaryName(_ name: String) -> Bool {
        name.hasPrefix(".ferry-") && name.hasSuffix(".tmp")
    }

    /// Appends bytes. Not for concurrent use: one writer per temporary file.
    public func write(_ bytes: [UInt8]) throws {
        do {
            _ = try fd.writeAll(bytes)
        } catch let errno as Errno {
            throw StorageError(.unknown, "\(path): write: \(errno)")
        }
        written += Int64(bytes.count)
        if written - flushedUpTo >= TempFile.writebackInterval {
            // Only starts writeback; durability still comes from the fsync in commit(to:).
            _ = ferry_start_writeback(fd.rawValue, flushedUpTo, written - flushedUpTo)
            flushedUpTo = written
        }
    }

    /// Starts writeback of everything written so far, for writers that write to the descriptor
    /// themselves; durability still comes from `commit(to:)`.
    public func startWriteback() {
        _ = ferry_start_writeback(fd.rawValue, 0, 0)
    }

    /// fsyncs the file and renames it to `final` in the same directory, replacing a regular file
    /// there (never a FIFO, device or directory).
    public func commit(to final: String) throws {
        try directory.checkReplaceable(final)
        guard fsync(fd.rawValue) == 0 else { throw FileSystem.failure(path, "fsync") }
        guard renameat(directory.descriptor, name, directory.descriptor, final) == 0 else {
            throw FileSystem.failure(directory.path(of: final), "rename")
        }
        finished = true
        try? fd.close()
    }

    /// Removes the file (after a failure).
    public func discard() {
        guard !finished else { return }
        finished = true
        unlinkat(directory.descriptor, name, 0)
        try? fd.close()
    }

    deinit { discard() }
}
