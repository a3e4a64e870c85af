import OCI
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A regular file as it is on disk: device, inode, size, and the time of its last change
/// (`ctime`, which every write and rename of it moves and which no user can set back).
public struct FileIdentity: Hashable, Sendable {
    public let device: UInt64
    public let inode: UInt64
    public let size: Int64
    public let changed: Int
    public let changedNanoseconds: Int

    public init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        changed = Int(info.st_ctim.tv_sec)
        changedNanoseconds = Int(info.st_ctim.tv_nsec)
    }
}

/// Some bytes of a regular file: all of it (a blob in a layout or a bucket) or a part (a blob
/// inside a plain tar archive).
public struct FilePiece: Hashable, Sendable {
    public let file: FileIdentity
    public let offset: Int64
    public let length: Int64
}

/// The pieces of files this process has read and found to hash to a digest. A piece read again
/// while its file's identity is the same holds the same bytes (Ferry's blobs are never written in
/// place), so it is not hashed again: a server sending the same layer to many clients hashes it
/// once. Part of `verifying(_:)`, the one place content is held to its digest. Bounded: it
/// forgets everything past 65,536 pieces.
public final class VerifiedFiles: Sendable {
    public static let shared = VerifiedFiles()
    private let known = Mutex<[FilePiece: Digest]>([:])

    func contains(_ piece: FilePiece, _ digest: Digest) -> Bool {
        known.withLock { $0[piece] == digest }
    }

    func insert(_ piece: FilePiece, _ digest: Digest) {
        known.withLock { files in
            if files.count >= 65_536 { files.removeAll(keepingCapacity: true) }
            files[piece] = digest
        }
    }
}
