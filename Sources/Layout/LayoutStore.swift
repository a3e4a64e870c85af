import FerryCore
import Foundation
import OCI
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// How a layout writes the `org.opencontainers.image.ref.name` of a tag.
public enum RefNameStyle: String, Sendable, CaseIterable {
    /// `v1`, as skopeo and umoci write it (the default).
    case bare
    /// `example.com/app:v1`, as crane writes it.
    case full
    /// Bare for the layout's own repository (the empty name), `NAME:v1` for any other: how a
    /// layout served as a registry keeps each repository pushed into it apart. Tags then resolve
    /// only in their own repository (no bare-tag fallback).
    case named
}

/// A backend that names tags the way a layout does (`RefNameStyle`): the CLI asks it before a
/// copy starts, so that a tag it cannot write is refused before anything is written.
public protocol LayoutNaming {
    func refName(forTag tag: String, repository: String) throws -> String
}

/// An OCI image-layout directory (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`), read
/// tolerantly and written atomically.
///
/// A layout has no repositories of its own: bare tags belong to the unnamed repository `""`,
/// and a tag written as a full reference (`example.com/app:v1`) to the repository it names.
public final class LayoutStore: Storage, Inventory, LayoutNaming {
    /// The layout directory, as given.
    public let root: FilePath
    /// The form in which new tags are written.
    public let refNameStyle: RefNameStyle
    public let displayName: String

    struct WriteState {
        var preparation: Task<Void, Error>?
        var createdRoot = false
        /// Blobs this store renamed into place, with their modification time then: `abort()`
        /// removes one only while nobody has marked it in use since.
        var written: [Digest: Date] = [:]
    }

    let writeState = Mutex(WriteState())
    /// Roots stored whose tags `index.json` does not list yet.
    let unrecordedRoots = RecordBatch<(manifest: Manifest, refName: String?)>()
    private let opened = DirectorySlot()
    /// `index.json` as last parsed, with the identity of the file it came from: a sync that
    /// resolves thousands of tags parses it once.
    private let parsedIndex = Mutex<(key: IndexFileKey, index: LayoutIndex)?>(nil)

    /// What tells one `index.json` from another: it is only ever replaced by rename.
    struct IndexFileKey: Equatable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: Int
        var modifiedNanoseconds: Int

        init(_ info: stat) {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modified = Int(info.st_mtim.tv_sec)
            modifiedNanoseconds = Int(info.st_mtim.tv_nsec)
        }
    }

    /// A layout at `directory`; nothing is read or created until it is used.
    public init(directory: String, refNameStyle: RefNameStyle = .bare) {
        root = FilePath(directory)
        self.refNameStyle = refNameStyle
        displayName = "oci:\(directory)"
    }

    static let indexName = "index.json"
    static let layoutFileName = "oci-layout"

    static func blobName(_ digest: Digest) -> String {
        "blobs/\(digest.algorithm.rawValue)/\(digest.encoded)"
    }

    /// The layout directory, opened once; every file of the layout is reached through it.
    func directory() throws -> ContainedDirectory {
        try opened.get {
            guard FileSystem.isDirectory(root) else {
                throw StorageError(.nameUnknown, "\(displayName): no such layout directory")
            }
            return try ContainedDirectory(opening: root)
        }
    }

    /// The `ref.name` a tag is written under: a full reference is written as given; a bare tag
    /// stays bare, or is qualified with `repository` in the `full` style.
    public func refName(forTag tag: String, repository: String) throws -> String {
        try LayoutIndex.refName(forTag: tag, repository: repository, style: refNameStyle, displayName: displayName)
    }

    /// Reads `index.json`.
    func readIndex() throws -> LayoutIndex {
        try naming(displayName) { try readIndexNow() }
    }

    private func readIndexNow() throws -> LayoutIndex {
        let directory = try directory()
        var info = stat()
        guard fstatat(directory.descriptor, Self.indexName, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw StorageError(.nameUnknown, "\(displayName): not an OCI layout (no index.json)")
        }
        let key = IndexFileKey(info)
        if let cached = parsedIndex.withLock({ $0 }), cached.key == key { return cached.index }
        let bytes = try directory.readFile(Self.indexName, limit: Manifest.maximumSize)
        let index: LayoutIndex
        do {
            index = try LayoutIndex(bytes: bytes)
        } catch {
            throw StorageError(.manifestInvalid, "\(displayName): index.json is corrupt: \(error)")
        }
        // Kept only when the file read is the file stat'ed (not replaced in between).
        var again = stat()
        if bytes.count == Int(info.st_size), fstatat(directory.descriptor, Self.indexName, &again, AT_SYMLINK_NOFOLLOW) == 0,
            IndexFileKey(again) == key {
            parsedIndex.withLock { $0 = (key, index) }
        }
        return index
    }

    /// Reads, changes and atomically replaces `index.json` under the layout's lock; nothing is
    /// written when the change leaves the index as it was.
    func rewriteIndex(_ change: @escaping @Sendable (inout LayoutIndex) throws -> Void) async throws {
        try await BlockingIO.run {
            let directory = try self.directory()
            try directory.withLock {
                var index = try self.readIndex()
                let before = try index.encoded()
                try change(&index)
                let after = try index.encoded()
                if after != before { try directory.writeAtomically(after, to: Self.indexName) }
            }
        }
    }
}
