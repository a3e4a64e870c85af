import CFerrySystem
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A location that is one file (an archive, a disk image), as a destination: written through a
/// locked temporary file beside it and renamed over it on commit, inside the directory that holds
/// it. Whatever stands at the name must be a regular file (or nothing): a FIFO, a device or a
/// directory is refused before anything is written. One writer at a time: `lock()` waits for the
/// lock file beside the destination (`.NAME.ferry-lock`), which the writer holds, and removes,
/// when it commits or gives up, so a second writer sees what the first wrote.
public final class FileDestination: @unchecked Sendable {
    /// The destination, as the user named it.
    public let path: FilePath
    /// The directory that holds it, and its name there.
    public let directory: ContainedDirectory
    public let name: String
    private let displayName: String
    private var lockDescriptor: Int32 = -1

    /// Opens the directory of `path` and checks what stands at the name.
    public init(path: FilePath, displayName: String) throws {
        let parent = path.removingLastComponent()
        guard let last = path.lastComponent?.string, ContainedDirectory.isComponent(last) else {
            throw StorageError(.nameInvalid, "\(displayName): not a file name")
        }
        do {
            directory = try ContainedDirectory(opening: parent.isEmpty ? "." : parent)
        } catch let error as StorageError {
            throw StorageError(.nameUnknown, "\(displayName): the directory it goes in cannot be opened: \(error.message)")
        }
        self.path = path
        name = last
        self.displayName = displayName
        try checkReplaceable()
    }

    /// Refuses a destination where something other than a regular file stands.
    public func checkReplaceable() throws {
        do {
            try directory.checkReplaceable(name)
        } catch let error as StorageError {
            throw StorageError(error.code, "\(displayName): \(error.message)")
        }
    }

    /// Waits until no other writer holds the destination, then holds it. Blocks: call it off the
    /// cooperative pool. The lock file exists only while a writer holds it: the holder removes
    /// it before letting go, and a waiter that wakes on a removed file tries again.
    public func lock() throws {
        guard lockDescriptor < 0 else { return }
        while true {
            let fd = ferry_open_beneath(directory.descriptor, lockName, O_RDWR | O_CREAT | O_NONBLOCK, 0o644)
            guard fd >= 0 else { throw directory.failure(lockName, errno) }
            var held = stat()
            guard fstat(fd, &held) == 0, held.st_mode & S_IFMT == S_IFREG else {
                close(fd)
                throw StorageError(.nameInvalid, "\(displayName): \(directory.path(of: lockName)) is not a regular file")
            }
            while flock(fd, LOCK_EX) != 0 {
                guard errno == EINTR else {
                    close(fd)
                    throw FileSystem.failure(directory.path(of: lockName), "lock")
                }
            }
            // Still the file at the name? Otherwise the previous holder removed it: start again.
            var current = stat()
            if fstatat(directory.descriptor, lockName, &current, AT_SYMLINK_NOFOLLOW) == 0,
                current.st_dev == held.st_dev, current.st_ino == held.st_ino {
                lockDescriptor = fd
                return
            }
            close(fd)
        }
    }

    /// Lets the next writer in, removing the lock file first.
    public func unlock() {
        guard lockDescriptor >= 0 else { return }
        unlinkat(directory.descriptor, lockName, 0)
        close(lockDescriptor)
        lockDescriptor = -1
    }

    private var lockName: String { ".\(name).ferry-lock" }

    /// A new temporary file beside the destination; the orphans of killed writers are swept first.
    public func makeTemporary() throws -> TempFile {
        try directory.sweepTemporaryFiles(in: [directory])
        return try TempFile(in: directory, lockRoot: directory)
    }

    /// Opens the destination, waits for its lock and starts its temporary file: what a writer of
    /// a whole file does first. Nothing stays locked when a step fails.
    public static func begin(path: FilePath, displayName: String) throws -> (FileDestination, TempFile) {
        let destination = try FileDestination(path: path, displayName: displayName)
        try destination.lock()
        do {
            return (destination, try destination.makeTemporary())
        } catch {
            destination.unlock()
            throw error
        }
    }

    /// Makes the temporary file the destination: fsync, rename over it, fsync the directory.
    public func commit(_ temp: TempFile) throws {
        do {
            try temp.commit(to: name)
        } catch let error as StorageError {
            throw StorageError(error.code, "\(displayName): \(error.message)")
        }
        try directory.sync()
    }

    deinit { unlock() }
}
