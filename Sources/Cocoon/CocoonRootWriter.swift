import FerryCore
import Foundation
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Writes a snapshot into a cocoon root as cocoon's `Create` does (FORMATS.md §5.6): under the
/// lock, refuse a taken name and add the record as `pending` with a new id; write the files into
/// `snapshot/localfile/<id>/` (holes recreated); then, under the lock, complete the record. On
/// failure the directory and the record go, so cocoon's garbage collector never meets a
/// half-written snapshot, and no other process ever sees one as ready. From before the record is
/// stored until it is complete or gone, the writer holds a lock file of its own
/// (`CocoonRoot.writerLockName`): after a kill the next writer finds it free and reclaims the
/// record, its name and its directory.
final class CocoonRootWriter: SnapshotMaterializer {
    private let root: CocoonRoot
    private let name: String
    private let displayName: String
    private let created = Mutex<(id: String, dataDir: ContainedDirectory, lock: FileDescriptor)?>(nil)

    init(root: CocoonRoot, name: String, displayName: String) {
        self.root = root
        self.name = name
        self.displayName = displayName
    }

    func begin(_ parts: SnapshotArtifact.Parts) async throws {
        let root = self.root
        let name = self.name
        let displayName = self.displayName
        let reserved = try await BlockingIO.run { () -> (String, ContainedDirectory, FileDescriptor) in
            let directory = try root.directory(create: true)
            var lock: (id: String, fd: FileDescriptor)?
            do {
                return try root.updateReclaiming { index -> (String, ContainedDirectory, FileDescriptor) in
                    if let owner = index.names[name] {
                        throw StorageError(.nameInvalid, "\(displayName): the name is already in use by snapshot \(owner)")
                    }
                    var id = CocoonRoot.newID()
                    while index.snapshots[id] != nil || directory.exists("\(CocoonRoot.dataRootName)/\(id)") { id = CocoonRoot.newID() }
                    let fd = try root.holdWriterLock(id)
                    lock = (id, fd)
                    let dataDir: ContainedDirectory
                    do {
                        dataDir = try directory.subdirectory("\(CocoonRoot.dataRootName)/\(id)", create: true)
                    } catch let error as StorageError {
                        throw StorageError(error.code, "\(displayName): cannot create the data directory: \(error.message)")
                    }
                    var config = parts.config
                    config.id = id
                    config.name = name
                    index.snapshots[id] = SnapshotRecord(
                        config: config, createdAt: GoJSON.timestamp(Date()), pending: true, dataDir: dataDir.path.string)
                    index.names[name] = id
                    return (id, dataDir, fd)
                }
            } catch {
                if let (id, fd) = lock {
                    try? directory.removeTree("\(CocoonRoot.dataRootName)/\(id)")
                    root.releaseWriterLock(id, fd)
                }
                throw error
            }
        }
        created.withLock { $0 = reserved }
    }

    /// Writes one file; the umask applies to its mode, as with cocoon's own import, and its mode
    /// holds permission bits only (`SnapshotFile`).
    func write(_ file: SnapshotFile, from stream: ByteStream) async throws {
        guard let (_, dataDir, _) = created.withLock({ $0 }) else { throw StorageError(.unknown, "\(displayName): no snapshot reserved") }
        let fd: FileDescriptor
        do {
            fd = try dataDir.open(file.name, O_WRONLY | O_CREAT | O_EXCL, mode: mode_t(file.mode & 0o777))
        } catch let error as StorageError {
            throw StorageError(error.code, "\(displayName): cannot create \(file.name): \(error.message)")
        }
        defer { try? fd.close() }
        let writer = SparseFileWriter(fd: fd.rawValue, logicalSize: file.size, map: file.sparseMap)
        let displayName = self.displayName
        for try await chunk in stream {
            try await BlockingIO.run { try writer.write(chunk) }
        }
        try await BlockingIO.run {
            try writer.finish()
            guard fsync(fd.rawValue) == 0 else {
                throw StorageError(.unknown, "\(displayName): \(dataDir.path(of: file.name)): \(Errno(rawValue: errno))")
            }
        }
    }

    func finish() async throws {
        guard let (id, dataDir, lock) = created.withLock({ $0 }) else { throw StorageError(.unknown, "\(displayName): no snapshot reserved") }
        let root = self.root
        let displayName = self.displayName
        try await BlockingIO.run {
            try dataDir.sync()
            try root.update { index in
                guard index.snapshots[id] != nil else {
                    throw StorageError(.unknown, "\(displayName): the pending record \(id) disappeared while it was written")
                }
                index.snapshots[id]?.pending = false
            }
            root.releaseWriterLock(id, lock)
        }
        created.withLock { $0 = nil }
    }

    func discard() async {
        guard let (id, _, lock) = created.withLock({ current in defer { current = nil }; return current }) else { return }
        let root = self.root
        let name = self.name
        _ = try? await BlockingIO.run {
            try? root.directory().removeTree("\(CocoonRoot.dataRootName)/\(id)")
            let removed: Bool? = try? root.update { index in
                index.snapshots[id] = nil
                if index.names[name] == id { index.names[name] = nil }
                return true
            }
            // When the record could not be taken out, the lock stays with this process until it
            // exits; then the next writer reclaims the record.
            if removed == true { root.releaseWriterLock(id, lock) }
        }
    }
}
