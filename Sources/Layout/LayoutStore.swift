import FerryCore
import Foundation
import OCI
import Synchronization
import SystemPackage

/// How a layout writes the `org.opencontainers.image.ref.name` of a tag.
public enum RefNameStyle: String, Sendable, CaseIterable {
    /// `v1`, as skopeo and umoci write it (the default).
    case bare
    /// `example.com/app:v1`, as crane writes it.
    case full
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
    private let opened = DirectorySlot()

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
        guard directory.exists(Self.indexName) else {
            throw StorageError(.nameUnknown, "\(displayName): not an OCI layout (no index.json)")
        }
        let bytes = try directory.readFile(Self.indexName, limit: Manifest.maximumSize)
        do {
            return try LayoutIndex(bytes: bytes)
        } catch {
            throw StorageError(.manifestInvalid, "\(displayName): index.json is corrupt: \(error)")
        }
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
