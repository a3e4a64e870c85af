import CFerrySystem
import FerryCore
import Foundation
import OCI
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

extension LayoutStore {
    /// Checks, before anything is written, that every tag of the plan can be written here.
    public func willCopy(_ plan: CopyPlan) async throws {
        for root in plan.roots {
            guard let tag = root.tag else { continue }
            let name = try refName(forTag: tag, repository: root.repository)
            guard Names.isValidLayoutTag(name) else {
                throw StorageError(.nameInvalid, "\(displayName): '\(name)' is neither a valid tag nor a full reference like example.com/app:v1")
            }
        }
        try await prepareForWriting()
    }

    public func pushBlob(_ descriptor: Descriptor, from stream: ByteStream, in repository: String) async throws {
        try await naming(displayName) { try await pushBlobNow(descriptor, from: stream) }
    }

    private func pushBlobNow(_ descriptor: Descriptor, from stream: ByteStream) async throws {
        try await prepareForWriting()
        let name = Self.blobName(descriptor.digest)
        let directory = try directory()
        if directory.regularFileSize(name) != nil { return }
        let (folder, file) = try await BlockingIO.run { try directory.parent(of: name, create: true) }
        let temp = try await BlockingIO.run { try TempFile(in: folder, lockRoot: directory) }
        do {
            for try await chunk in stream.verifying(descriptor) {
                try await BlockingIO.run { try temp.write(chunk) }
            }
            try await BlockingIO.run { try temp.commit(to: file) }
            let stamp = directory.status(name)?.modified ?? Date()
            writeState.withLock { $0.written[descriptor.digest] = stamp }
        } catch {
            temp.discard()
            throw error
        }
    }

    /// Stores a manifest under the layout's lock, and only when everything it names is there
    /// at that moment (the lock `abort()` and `ferry gc` take). A root is then listed in
    /// `index.json`: at once when the last listing is a second old or more, else with the next
    /// ones (`recordRoots`), at the latest when the copy commits or aborts.
    public func pushManifest(_ manifest: Manifest, as target: ManifestTarget, in repository: String) async throws {
        let refName: String? = try { if case .root(let tag?) = target { return try self.refName(forTag: tag, repository: repository) }; return nil }()
        try await prepareForWriting()
        let directory = try directory()
        let displayName = self.displayName
        try await BlockingIO.run {
            try naming(displayName) { try directory.withLock {
                try self.checkComplete(manifest, in: directory)
                let name = Self.blobName(manifest.digest)
                if directory.regularFileSize(name) == nil {
                    let (folder, file) = try directory.parent(of: name, create: true)
                    try folder.writeAtomically(manifest.bytes, to: file)
                    let stamp = directory.status(name)?.modified ?? Date()
                    self.writeState.withLock { $0.written[manifest.digest] = stamp }
                }
                guard case .root = target else { return }
                if self.unrecordedRoots.add((manifest, refName)) { try self.recordRootsLocked(in: directory) }
            } }
        }
    }

    /// Fails unless every blob and child a manifest names is in the layout.
    private func checkComplete(_ manifest: Manifest, in directory: ContainedDirectory) throws {
        if let missing = (manifest.blobs + manifest.manifests).first(where: { directory.regularFileSize(Self.blobName($0.digest)) == nil }) {
            throw StorageError(.manifestBlobUnknown, "\(displayName): manifest \(manifest.digest) names \(missing.digest), which is not in the layout")
        }
    }

    /// Lists the roots stored since the last listing in `index.json`, in one rewrite: checked
    /// again (a `ferry gc` may have run in between), their blobs made durable first.
    private func recordRootsLocked(in directory: ContainedDirectory) throws {
        let roots = unrecordedRoots.take()
        guard !roots.isEmpty else { return }
        for root in roots {
            try checkComplete(root.manifest, in: directory)
            guard directory.regularFileSize(Self.blobName(root.manifest.digest)) != nil else {
                throw StorageError(.manifestUnknown, "\(displayName): manifest \(root.manifest.digest) went missing before it was listed")
            }
        }
        // Blobs renamed into place must be durable before index.json names them.
        for algorithm in Set(roots.map(\.manifest.digest.algorithm)) {
            try directory.subdirectory("blobs/\(algorithm.rawValue)").sync()
        }
        var index = try readIndex()
        let before = try index.encoded()
        index.record(roots)
        let after = try index.encoded()
        if after != before { try directory.writeAtomically(after, to: Self.indexName) }
    }

    /// Lists the roots not yet listed, under the layout's lock.
    func recordRoots() async throws {
        guard !unrecordedRoots.isEmpty else { return }
        let directory = try directory()
        let displayName = self.displayName
        try await BlockingIO.run {
            try naming(displayName) { try directory.withLock { try self.recordRootsLocked(in: directory) } }
        }
    }

    /// The end of a copy: every root stored is listed.
    public func commit() async throws {
        try await recordRoots()
    }

    /// After a failed copy: removes the layout if this store created it; otherwise, under the
    /// layout's lock, removes the blobs this store wrote that `index.json` does not reach and
    /// that nobody has marked in use since (a copy that skipped one refreshes its time).
    public func abort() async {
        // The roots stored before the failure stay listed, as when each was listed at once.
        try? await recordRoots()
        let (created, written) = writeState.withLock { ($0.createdRoot, $0.written) }
        guard created || !written.isEmpty, let directory = try? directory() else { return }
        let root = self.root
        _ = try? await directory.holdingLock {
            // A layout this store created goes, unless a concurrent writer has tagged into it.
            if created, (try? self.readIndex().manifests.isEmpty) ?? true {
                // Out of sight in one rename, then removed: a kill in between leaves a temporary
                // directory that the next writer beside it sweeps, never a half-removed layout.
                let parentPath = root.removingLastComponent()
                if let name = root.lastComponent?.string, let parent = try? ContainedDirectory(opening: parentPath.isEmpty ? "." : parentPath) {
                    let aside = ".ferry-removed-\(String(UInt64.random(in: 0...UInt64.max), radix: 16)).tmp"
                    if ferry_rename_noreplace(parent.descriptor, name, parent.descriptor, aside) == 0 {
                        try? parent.removeTree(aside)
                        return
                    }
                }
                for entry in (try? directory.entries()) ?? [] { try? directory.removeTree(entry) }
                rmdir(root.string)
                return
            }
            let reachable = try await self.reachableDigests()
            for (digest, stamp) in written where !reachable.contains(digest) {
                let name = Self.blobName(digest)
                guard let status = directory.status(name), status.modified == stamp else { continue }
                try? directory.removeFile(name)
            }
        }
        writeState.withLock { $0.written = [:] }
    }

    /// Before the first write: create the directory if needed, make sure it is a layout (or
    /// empty), write `oci-layout` and an empty `index.json` when missing, and sweep the
    /// temporary files of killed writers. Runs once per store.
    func prepareForWriting() async throws {
        let task = writeState.withLock { state in
            if let task = state.preparation { return task }
            let task = Task { try await BlockingIO.run { try naming(self.displayName) { try self.prepareNow() } } }
            state.preparation = task
            return task
        }
        try await task.value
    }

    private func prepareNow() throws {
        let parent = root.removingLastComponent()
        guard parent.isEmpty || FileSystem.isDirectory(parent) else {
            throw StorageError(.nameUnknown, "\(displayName): parent directory \(parent) does not exist")
        }
        if FileSystem.exists(root), !FileSystem.isDirectory(root) {
            throw StorageError(.nameInvalid, "\(displayName): exists and is not a directory")
        }
        let created = try !FileSystem.exists(root) && makeLayout()
        writeState.withLock { $0.createdRoot = created }
        let directory = try self.directory()
        try directory.withLock {
            // Under the lock: another writer may be creating this layout right now.
            let entries = try directory.entries()
            if !directory.exists(Self.layoutFileName), !entries.allSatisfy(TempFile.isTemporaryName) {
                throw StorageError(.nameInvalid, "\(displayName): exists, is not empty and is not an OCI layout (no oci-layout file)")
            }
            if directory.exists(Self.layoutFileName) {
                try checkLayoutVersion(directory)
            } else {
                try directory.writeAtomically(Self.layoutFileContent, to: Self.layoutFileName)
            }
            _ = try directory.subdirectory("blobs/\(Digest.Algorithm.sha256.rawValue)", create: true)
            if !directory.exists(Self.indexName) {
                try directory.writeAtomically(try LayoutIndex().encoded(), to: Self.indexName)
            } else {
                _ = try readIndex()
            }
        }
        try sweepTemporaryFilesNow()
    }

    /// Removes the temporary files of killed writers: in the layout's top directory and its
    /// blob directories, where writers make them.
    @discardableResult
    func sweepTemporaryFilesNow() throws -> Int {
        let directory = try self.directory()
        let blobDirectories = Digest.Algorithm.allCases.compactMap { try? directory.subdirectory("blobs/\($0.rawValue)") }
        return try directory.sweepTemporaryFiles(in: [directory] + blobDirectories)
    }

    /// Makes a new layout whole or not at all: `oci-layout`, `index.json` and `blobs/sha256` are
    /// written into a locked temporary directory beside it, which is then renamed into place
    /// (never over anything). A kill leaves no half-made layout, only a temporary directory the
    /// next writer in the same directory sweeps. False when another writer made it first.
    private func makeLayout() throws -> Bool {
        let parentPath = root.removingLastComponent()
        guard let name = root.lastComponent?.string, ContainedDirectory.isComponent(name) else {
            _ = try ContainedDirectory(opening: root, create: true)
            return true
        }
        let parent = try ContainedDirectory(opening: parentPath.isEmpty ? "." : parentPath)
        try parent.sweepTemporaryFiles(in: [parent])
        var skeletonName = ""
        do {
            let skeleton = try parent.makeTemporaryDirectory(label: "layout", mode: 0o755)
            skeletonName = skeleton.path.lastComponent?.string ?? ""
            try skeleton.writeAtomically(Self.layoutFileContent, to: Self.layoutFileName)
            _ = try skeleton.subdirectory("blobs/\(Digest.Algorithm.sha256.rawValue)", create: true)
            try skeleton.writeAtomically(try LayoutIndex().encoded(), to: Self.indexName)
            try skeleton.sync()
        } catch {
            // The temporary directory's lock went with its descriptor.
            if !skeletonName.isEmpty { try? parent.removeTree(skeletonName) }
            throw error
        }
        guard ferry_rename_noreplace(parent.descriptor, skeletonName, parent.descriptor, name) == 0 else {
            let code = errno
            try? parent.removeTree(skeletonName)
            if code == EEXIST || code == ENOTEMPTY { return false }
            throw StorageError(.unknown, "\(displayName): cannot create the layout: \(Errno(rawValue: code))")
        }
        try parent.sync()
        return true
    }

    /// What `oci-layout` holds in a layout Ferry makes.
    static let layoutFileContent = Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8)

    private func checkLayoutVersion(_ directory: ContainedDirectory) throws {
        struct LayoutFile: Decodable { var imageLayoutVersion: String }
        let bytes = try directory.readFile(Self.layoutFileName, limit: 1 << 16)
        guard let file = try? JSONDecoder().decode(LayoutFile.self, from: Data(bytes)) else {
            throw StorageError(.nameInvalid, "\(displayName): oci-layout is not valid JSON")
        }
        guard file.imageLayoutVersion.hasPrefix("1.") else {
            throw StorageError(.unsupported, "\(displayName): image layout version \(file.imageLayoutVersion) is not supported (1.x is)")
        }
    }
}
