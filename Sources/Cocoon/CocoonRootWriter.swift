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
/// half-written snapshot, and no other process ever sees one as ready.
final class CocoonRootWriter: SnapshotMaterializer {
    private let root: CocoonRoot
    private let name: String
    private let displayName: String
    private let created = Mutex<(id: String, dataDir: FilePath)?>(nil)

    init(root: CocoonRoot, name: String, displayName: String) {
        self.root = root
        self.name = name
        self.displayName = displayName
    }

    func begin(_ parts: SnapshotArtifact.Parts) async throws {
        let root = self.root
        let name = self.name
        let displayName = self.displayName
        let reserved = try await BlockingIO.run { () -> (String, FilePath) in
            try root.update { index -> (String, FilePath) in
                if let owner = index.names[name] {
                    throw StorageError(.nameInvalid, "\(displayName): the name is already in use by snapshot \(owner)")
                }
                var id = CocoonRoot.newID()
                while index.snapshots[id] != nil { id = CocoonRoot.newID() }
                let dataDir = root.dataRoot.appending(id)
                do {
                    try FileManager.default.createDirectory(atPath: dataDir.string, withIntermediateDirectories: true)
                } catch {
                    throw StorageError(.unknown, "\(displayName): cannot create \(dataDir): \(error.localizedDescription)")
                }
                var config = parts.config
                config.id = id
                config.name = name
                index.snapshots[id] = SnapshotRecord(
                    config: config, createdAt: GoJSON.timestamp(Date()), pending: true, dataDir: dataDir.string)
                index.names[name] = id
                return (id, dataDir)
            }
        }
        created.withLock { $0 = reserved }
    }

    func write(_ file: SnapshotFile, from stream: ByteStream) async throws {
        guard let (_, dataDir) = created.withLock({ $0 }) else { throw StorageError(.unknown, "\(displayName): no snapshot reserved") }
        let path = dataDir.appending(file.name)
        let fd = open(path.string, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StorageError(.unknown, "\(displayName): cannot create \(path): \(Errno(rawValue: errno))") }
        defer { close(fd) }
        let writer = SparseFileWriter(fd: fd, logicalSize: file.size, map: file.sparseMap)
        let displayName = self.displayName
        for try await chunk in stream {
            try await BlockingIO.run { try writer.write(chunk) }
        }
        try await BlockingIO.run {
            try writer.finish()
            guard fchmod(fd, mode_t(file.mode)) == 0, fsync(fd) == 0 else {
                throw StorageError(.unknown, "\(displayName): \(path): \(Errno(rawValue: errno))")
            }
        }
    }

    func finish() async throws {
        guard let (id, dataDir) = created.withLock({ $0 }) else { throw StorageError(.unknown, "\(displayName): no snapshot reserved") }
        let root = self.root
        let displayName = self.displayName
        try await BlockingIO.run {
            try FileSystem.syncDirectory(dataDir)
            try root.update { index in
                guard index.snapshots[id] != nil else {
                    throw StorageError(.unknown, "\(displayName): the pending record \(id) disappeared while it was written")
                }
                index.snapshots[id]?.pending = false
            }
        }
    }

    func discard() async {
        guard let (id, dataDir) = created.withLock({ $0 }) else { return }
        let root = self.root
        let name = self.name
        _ = try? await BlockingIO.run {
            try? FileManager.default.removeItem(atPath: dataDir.string)
            try root.update { index in
                index.snapshots[id] = nil
                if index.names[name] == id { index.names[name] = nil }
            }
        }
        created.withLock { $0 = nil }
    }
}
