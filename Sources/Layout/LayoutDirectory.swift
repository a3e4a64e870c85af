import FerryCore
import Foundation
import OCI
import SystemPackage
import Synchronization

/// A directory holding one layout per repository (`DIR/<name>/index.json`, `--per-repository`),
/// as the `ocilayout` package's per-repository registry keeps them: each repository is a
/// `LayoutStore` of its own, found or created below the directory and never outside it (names
/// are checked as repository names, and each component as a real directory, not a symlink).
public final class LayoutDirectory: Storage {
    public let root: FilePath
    public let displayName: String
    private let opened = DirectorySlot()
    private let layouts = Mutex<[String: LayoutStore]>([:])

    public init(directory: String) {
        root = FilePath(directory)
        displayName = "oci:\(directory) (per repository)"
    }

    private func directory(create: Bool) throws -> ContainedDirectory {
        try opened.get {
            guard create || FileSystem.isDirectory(root) else { throw StorageError(.nameUnknown, "\(displayName): no such directory") }
            return try ContainedDirectory(opening: root, create: create)
        }
    }

    /// The layout of one repository; `create` makes its directory (and those above it).
    func layout(_ repository: String, create: Bool = false) throws -> LayoutStore {
        guard Names.isValidRepository(repository) else {
            throw StorageError(.nameInvalid, "\(displayName): '\(repository)' is not a repository name")
        }
        if let known = layouts.withLock({ $0[repository] }) { return known }
        // Checked inside the directory without following symlinks before the layout opens it.
        do {
            _ = try directory(create: create).subdirectory(repository, create: create)
        } catch let error as StorageError where !create || error.code == .nameUnknown {
            // Missing, or not a plain directory (a symlink planted inside): not a repository.
            throw StorageError(.nameUnknown, "\(displayName): no repository \(repository)")
        }
        let store = LayoutStore(directory: root.appending(repository).string)
        return layouts.withLock { known in
            if let earlier = known[repository] { return earlier }
            known[repository] = store
            return store
        }
    }

    public func resolve(_ selector: ManifestSelector?, in repository: String) async throws -> Descriptor {
        try await layout(repository).resolve(selector, in: "")
    }
    public func fetch(_ descriptor: Descriptor, in repository: String) async throws -> ByteStream {
        try await layout(repository).fetch(descriptor, in: "")
    }
    public func fetch(_ descriptor: Descriptor, range: Range<Int64>, in repository: String) async throws -> ByteStream {
        try await layout(repository).fetch(descriptor, range: range, in: "")
    }
    public func blobSize(_ digest: Digest, in repository: String) async throws -> Int64? {
        guard let store = try? layout(repository) else { return nil }
        return try await store.blobSize(digest, in: "")
    }
    public func blobExists(_ digest: Digest, in repository: String) async throws -> Bool {
        guard let store = try? layout(repository) else { return false }
        return try await store.blobExists(digest, in: "")
    }
    public func manifestExists(_ digest: Digest, in repository: String) async throws -> Bool {
        guard let store = try? layout(repository) else { return false }
        return try await store.manifestExists(digest, in: "")
    }
    public func pushBlob(_ descriptor: Descriptor, from stream: ByteStream, in repository: String) async throws {
        try await layout(repository, create: true).pushBlob(descriptor, from: stream, in: "")
    }
    public func pushManifest(_ manifest: Manifest, as target: ManifestTarget, in repository: String) async throws {
        try await layout(repository, create: true).pushManifest(manifest, as: target, in: "")
    }

    /// Every directory below that holds an `index.json`, by its path as the repository name.
    public func repositories() async throws -> [String] {
        let top = try directory(create: false)
        var found: [String] = []
        var pending: [(String, Int)] = [("", 0)]
        while let (relative, depth) = pending.popLast() {
            let entries = try relative.isEmpty ? top.entries() : top.entries(relative)
            if !relative.isEmpty, entries.contains("index.json") {
                if Names.isValidRepository(relative) { found.append(relative) }
                continue
            }
            guard depth < 16 else { continue }
            for entry in entries where !entry.hasPrefix(".") {
                let path = relative.isEmpty ? entry : "\(relative)/\(entry)"
                if top.status(path)?.isDirectory == true { pending.append((path, depth + 1)) }
            }
        }
        return found.sorted()
    }

    public func tags(in repository: String) async throws -> [String] { try await layout(repository).tags(in: "") }
    public func deleteTag(_ tag: String, in repository: String) async throws { try await layout(repository).deleteTag(tag, in: "") }
    public func deleteManifest(_ digest: Digest, in repository: String) async throws { try await layout(repository).deleteManifest(digest, in: "") }
    public func deleteBlob(_ digest: Digest, in repository: String) async throws { try await layout(repository).deleteBlob(digest, in: "") }

    public func willCopy(_ plan: CopyPlan) async throws {
        for repository in Set(plan.roots.map(\.repository)) { _ = try layout(repository, create: true) }
    }
    public func commit() async throws {
        for store in layouts.withLock({ Array($0.values) }) { try await store.commit() }
    }
    public func abort() async {
        for store in layouts.withLock({ Array($0.values) }) { await store.abort() }
    }
}
