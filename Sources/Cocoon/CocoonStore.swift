import FerryCore
import Foundation
import OCI
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// `cocoon:[ROOT#]NAME`: the snapshots of a cocoon root, each seen as a repository that holds one
/// snapshot artifact (`latest`). Reading hashes the snapshot's files once (the data of sparse
/// ones only); writing creates a snapshot the way cocoon's own save does (see `CocoonRootWriter`).
public final class CocoonStore: WholeArtifactStore {
    public let root: CocoonRoot
    public let displayName: String
    let options: SnapshotArtifactOptions
    private let views = Mutex<[String: SnapshotView]>([:])
    private let sink: SinkSlot

    public init(root: FilePath, options: SnapshotArtifactOptions = SnapshotArtifactOptions()) {
        self.root = CocoonRoot(path: root)
        self.options = options
        displayName = "cocoon:\(root)"
        sink = SinkSlot(displayName: displayName)
    }

    /// The store of the root at `rootPath`, or of the default root (`COCOON_ROOT_DIR`, else
    /// `/var/lib/cocoon`) when it is nil.
    public convenience init(rootPath: String?, options: SnapshotArtifactOptions = SnapshotArtifactOptions()) {
        self.init(root: FileSystem.absolute((rootPath.map { FilePath($0) } ?? CocoonRoot.defaultPath()).string), options: options)
    }

    // MARK: reading

    /// The artifact of the snapshot `reference` names (id, name or id prefix), made on first use.
    func view(_ reference: String) async throws -> (view: SnapshotView, dataDir: ContainedDirectory) {
        let (id, record) = try root.resolve(reference)
        let dataDir = try root.dataDirectory(id: id, record: record, what: "\(displayName)#\(reference)")
        if let cached = views.withLock({ $0[id] }) { return (cached, dataDir) }
        let files = try await SnapshotDirectory.files(in: dataDir, what: "\(displayName)#\(reference)")
        let view = try SnapshotView(config: record.config, files: files, options: options)
        views.withLock { $0[id] = view }
        return (view, dataDir)
    }

    public func resolve(_ selector: ManifestSelector?, in repository: String) async throws -> Descriptor {
        try await view(repository).view.resolve(selector, displayName: "\(displayName)#\(repository)")
    }

    public func fetch(_ descriptor: Descriptor, in repository: String) async throws -> ByteStream {
        let (view, dataDir) = try await view(repository)
        if let bytes = view.document(descriptor.digest) { return .bytes(bytes) }
        guard let file = view.file(for: descriptor.digest) else {
            throw StorageError(.blobUnknown, "\(displayName)#\(repository): no blob \(descriptor.digest)")
        }
        return try SnapshotDirectory.storedBytes(of: file, in: dataDir)
    }

    /// While a snapshot is written nothing of it is there yet (it is written whole); otherwise
    /// what the snapshot's artifact holds.
    public func blobExists(_ digest: Digest, in repository: String) async throws -> Bool {
        guard !sink.isWriting, (try? root.resolve(repository)) != nil else { return false }
        return try await view(repository).view.contains(digest)
    }

    public func blobSize(_ digest: Digest, in repository: String) async throws -> Int64? {
        guard !sink.isWriting, (try? root.resolve(repository)) != nil else { return nil }
        return try await view(repository).view.size(of: digest)
    }

    public func manifestExists(_ digest: Digest, in repository: String) async throws -> Bool {
        guard !sink.isWriting, (try? root.resolve(repository)) != nil else { return false }
        return try await view(repository).view.manifest.digest == digest
    }

    /// Named snapshots by name, unnamed ones by id; pending ones are not there yet.
    public func repositories() async throws -> [String] {
        let index = try root.index()
        let named = Set(index.names.values)
        let unnamed = index.snapshots.filter { !$0.value.pending && !named.contains($0.key) }.map(\.key)
        let names = index.names.filter { index.snapshots[$0.value].map { !$0.pending } ?? false }.map(\.key)
        return (names + unnamed).sorted()
    }

    public func tags(in repository: String) async throws -> [String] {
        _ = try root.resolve(repository)
        return ["latest"]
    }

    public var deletionRefusal: String { "Ferry does not delete cocoon snapshots (use `cocoon snapshot rm`)" }

    // MARK: writing

    public var wantsSequentialBlobs: Bool { true }

    /// Each artifact of the plan becomes a snapshot named after its destination repository;
    /// every name is checked before anything is written.
    public func willCopy(_ plan: CopyPlan) async throws {
        let names = plan.roots.map(\.repository)
        if names.isEmpty || names.contains("") {
            throw StorageError(.nameInvalid, "\(displayName): name the snapshot to write (cocoon:ROOT#NAME)")
        }
        if let twice = Dictionary(grouping: names, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw StorageError(.nameInvalid, "\(displayName)#\(twice): two artifacts would become this one snapshot; copy them one at a time under different names")
        }
        // What killed writers left (pending records whose writer is gone, their directories,
        // spools) is reclaimed first, so a name blocked by a kill is free again.
        let root = self.root
        let displayName = self.displayName
        let (index, spools) = try await BlockingIO.run { () -> (SnapshotIndex, ContainedDirectory) in
            let index = try root.updateReclaiming { $0 }
            let spools = try naming(displayName) { try root.directory().subdirectory("snapshot", create: true) }
            try spools.sweepTemporaryFiles(in: [spools])
            return (index, spools)
        }
        for name in names {
            if let id = index.names[name] { throw StorageError(.nameInvalid, "\(displayName)#\(name): the name is already in use by snapshot \(id)") }
        }
        var sinks: [String: SnapshotSink] = [:]
        for planned in plan.roots {
            let name = planned.repository
            let writer = CocoonRootWriter(root: root, name: name, displayName: "\(displayName)#\(name)")
            let sink = SnapshotSink(
                displayName: "\(displayName)#\(name)", spool: Spool(in: spools),
                materializer: writer)
            try sink.willCopy(planned.manifest)
            sinks[name] = sink
        }
        sink.install(sinks)
    }

    public func pushBlob(_ descriptor: Descriptor, from stream: ByteStream, in repository: String) async throws {
        try await sink.active(repository).pushBlob(descriptor, from: stream)
    }

    public func pushManifest(_ manifest: Manifest, as target: ManifestTarget, in repository: String) async throws {
        try sink.active(repository).pushManifest(manifest)
    }

    public func commit() async throws { try await sink.commit() }

    public func abort() async { await sink.abort() }
}

/// The regular files of a snapshot's data directory, as cocoon exports them.
enum SnapshotDirectory {
    /// Every regular file, sorted by name (Go's `os.ReadDir`), hashed two at a time: a sparse file
    /// costs its data, not its length. Symlinks and other types are skipped, as cocoon skips them.
    static func files(in directory: ContainedDirectory, what: String) async throws -> [(file: SnapshotFile, digest: Digest)] {
        let names: [String]
        do {
            names = try directory.entries()
        } catch {
            throw StorageError(.nameUnknown, "\(what): cannot read the data directory \(directory.path)")
        }
        var found: [SnapshotFile] = []
        for name in names.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            guard ArchiveName.isPlainFileName(name), let status = directory.status(name), status.isRegularFile,
                let (fd, size) = try? directory.openForReading(name)
            else { continue }
            var info = stat()
            fstat(fd.rawValue, &info)
            var file = SnapshotFile(name: name, mode: UInt32(info.st_mode & 0o7777), size: size)
            if size > 0, let map = try? SparseMap.scan(fd, path: directory.path(of: name)), map.dataSize < size {
                file.sparseMap = map
            }
            try? fd.close()
            found.append(file)
        }
        let files = found
        return try await withThrowingTaskGroup(of: (Int, Digest).self) { group in
            var digests = [Digest?](repeating: nil, count: files.count)
            for index in files.indices {
                if index >= 2, let (done, digest) = try await group.next() { digests[done] = digest }
                group.addTask {
                    var hasher = DigestHasher(.sha256)
                    for try await chunk in try storedBytes(of: files[index], in: directory) {
                        chunk.withUnsafeBytes { hasher.update($0) }
                    }
                    return (index, hasher.finalize())
                }
            }
            while let (done, digest) = try await group.next() { digests[done] = digest }
            return files.indices.map { (files[$0], digests[$0]!) }
        }
    }

    /// What a layer holds: a sparse file's data segments, or the whole file.
    static func storedBytes(of file: SnapshotFile, in directory: ContainedDirectory) throws -> ByteStream {
        let (fd, _) = try directory.openForReading(file.name)
        let path = directory.path(of: file.name)
        if let map = file.sparseMap { return ByteStream.sparseData(fd, path: path, map: map) }
        return try ByteStream.file(fd, path: path, offset: 0, length: file.size)
    }
}
