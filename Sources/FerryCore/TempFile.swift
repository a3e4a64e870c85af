import CFerrySystem
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A temporary file beside its final place (`.ferry-<random>.tmp`), locked while it is written
/// so that a sweeper can tell a live writer's file from a killed writer's. Content becomes visible
/// only by `commit(to:)`: fsync, then rename.
public final class TempFile: @unchecked Sendable {
    public let path: FilePath
    private let fd: FileDescriptor
    private var written: Int64 = 0
    private var flushedUpTo: Int64 = 0
    private var finished = false

    /// Writeback is started every this many bytes, so the disk works while the copy goes on and
    /// the fsync of `commit(to:)` waits only for the tail.
    static let writebackInterval: Int64 = 8 << 20

    /// Creates and locks a temporary file in the directory of `final`. The file is created under a
    /// shared lock on `lockRoot`, so a sweep (exclusive) never sees it unlocked; pass nil when the
    /// caller already holds that lock exclusively.
    public init(beside final: FilePath, lockRoot: FilePath?) throws {
        let directory = final.removingLastComponent()
        var created: (FilePath, FileDescriptor)?
        func create() throws {
            for _ in 0..<8 {
                let candidate = directory.appending(".ferry-\(String(UInt64.random(in: 0...UInt64.max), radix: 16)).tmp")
                do {
                    let fd = try FileDescriptor.open(
                        candidate, .writeOnly, options: [.create, .exclusiveCreate, .closeOnExec],
                        permissions: [.ownerReadWrite, .groupRead, .otherRead])
                    guard flock(fd.rawValue, LOCK_EX) == 0 else {
                        try? fd.close()
                        throw FileSystem.failure(candidate, "lock")
                    }
                    created = (candidate, fd)
                    return
                } catch Errno.fileExists {
                    continue
                } catch let errno as Errno {
                    throw StorageError(.unknown, "\(candidate): \(errno)")
                }
            }
        }
        if let lockRoot {
            try FileSystem.withLock(on: lockRoot, shared: true, create)
        } else {
            try create()
        }
        guard let (path, fd) = created else { throw StorageError(.unknown, "\(directory): no free temporary name") }
        self.path = path
        self.fd = fd
    }

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

    /// fsyncs the file and renames it to `final`, replacing what is there.
    public func commit(to final: FilePath) throws {
        guard fsync(fd.rawValue) == 0 else { throw FileSystem.failure(path, "fsync") }
        guard rename(path.string, final.string) == 0 else { throw FileSystem.failure(final, "rename") }
        finished = true
        try? fd.close()
    }

    /// Removes the file (after a failure).
    public func discard() {
        guard !finished else { return }
        finished = true
        unlink(path.string)
        try? fd.close()
    }

    deinit { discard() }
}
