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
    /// The layout directory.
    public let root: FilePath
    /// The form in which new tags are written.
    public let refNameStyle: RefNameStyle
    public let displayName: String

    struct WriteState {
        var preparation: Task<Void, Error>?
        var createdRoot = false
        /// Blobs this store renamed into place, for `abort()`.
        var written: [Digest] = []
    }

    let writeState = Mutex(WriteState())

    /// A layout at `directory`; nothing is read or created until it is used.
    public init(directory: String, refNameStyle: RefNameStyle = .bare) {
        root = FilePath(directory)
        self.refNameStyle = refNameStyle
        displayName = "oci:\(directory)"
    }

    var indexPath: FilePath { root.appending("index.json") }
    var layoutFilePath: FilePath { root.appending("oci-layout") }
    var blobsPath: FilePath { root.appending("blobs") }

    func blobPath(_ digest: Digest) -> FilePath {
        blobsPath.appending(digest.algorithm.rawValue).appending(digest.encoded)
    }

    /// The `ref.name` a tag is written under: a full reference is written as given; a bare tag
    /// stays bare, or is qualified with `repository` in the `full` style.
    public func refName(forTag tag: String, repository: String) throws -> String {
        try LayoutIndex.refName(forTag: tag, repository: repository, style: refNameStyle, displayName: displayName)
    }

    /// Reads `index.json`.
    func readIndex() throws -> LayoutIndex {
        guard FileSystem.isDirectory(root) else {
            throw StorageError(.nameUnknown, "\(displayName): no such layout directory")
        }
        guard FileSystem.exists(indexPath) else {
            throw StorageError(.nameUnknown, "\(displayName): not an OCI layout (no index.json)")
        }
        let bytes = try FileSystem.readFile(indexPath, limit: Manifest.maximumSize)
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
            try FileSystem.withLock(on: self.root) {
                var index = try self.readIndex()
                let before = try index.encoded()
                try change(&index)
                let after = try index.encoded()
                if after != before { try FileSystem.writeAtomically(after, to: self.indexPath) }
            }
        }
    }
}
