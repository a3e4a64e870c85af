import FerryCore
import Foundation
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A cocoon root directory (FORMATS.md §5): the snapshot index `snapshot/db/snapshots.json`,
/// guarded by `flock` on `snapshot/db/snapshots.lock` exactly as cocoon guards it, and the data
/// directories `snapshot/localfile/<id>/`. Every path is reached through the root's
/// `ContainedDirectory`: a symlink planted in the root is never followed, and an id becomes a
/// path only once it has cocoon's form.
public final class CocoonRoot: Sendable {
    public let path: FilePath
    private let opened = DirectorySlot()

    public init(path: FilePath) { self.path = path }

    /// `COCOON_ROOT_DIR`, else cocoon's default `/var/lib/cocoon`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> FilePath {
        FilePath(environment["COCOON_ROOT_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/var/lib/cocoon")
    }

    static let database = "snapshot/db"
    static let indexName = "snapshot/db/snapshots.json"
    static let lockName = "snapshot/db/snapshots.lock"
    static let dataRootName = "snapshot/localfile"

    /// Where the data directories live.
    public var dataRoot: FilePath { path.appending(Self.dataRootName) }

    /// The root directory, opened once. Readers need it to exist; a writer makes it
    /// (`create`, its parent must exist) before its first change.
    func directory(create: Bool = false) throws -> ContainedDirectory {
        try opened.get {
            do {
                return try ContainedDirectory(opening: path, create: create)
            } catch let error as StorageError where error.code == .nameUnknown && !create {
                throw StorageError(.nameUnknown, "cocoon:\(path): no such cocoon root")
            } catch let error as StorageError {
                throw StorageError(error.code, "cocoon:\(path): cannot open the root: \(error.message)")
            }
        }
    }

    /// Whether `id` has the form of a cocoon id: 26 characters of A–Z and 2–7 (since v0.3.6), or
    /// 16 lowercase hex characters (before). Only such an id is ever used as a path.
    public static func isValidID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        if bytes.count == 26 { return bytes.allSatisfy { (0x41...0x5A).contains($0) || (0x32...0x37).contains($0) } }
        if bytes.count == 16 { return bytes.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) } }
        return false
    }

    /// The data directory of a record, opened inside the root: `snapshot/localfile/<id>`. A
    /// record whose id has not cocoon's form, or whose `data_dir` names another directory, is
    /// refused rather than read.
    func dataDirectory(id: String, record: SnapshotRecord, what: String) throws -> ContainedDirectory {
        guard Self.isValidID(id) else {
            throw StorageError(.nameInvalid, "\(what): snapshot id '\(id)' is not a cocoon id; refusing to use it as a path")
        }
        let directory: ContainedDirectory
        do {
            directory = try self.directory().subdirectory("\(Self.dataRootName)/\(id)")
        } catch let error as StorageError {
            throw StorageError(.nameUnknown, "\(what): cannot read the data directory: \(error.message)")
        }
        if !record.dataDir.isEmpty {
            // cocoon records the absolute path; it must be this very directory.
            var expected = stat()
            var recorded = stat()
            guard fstat(directory.descriptor, &expected) == 0, stat(record.dataDir, &recorded) == 0,
                expected.st_dev == recorded.st_dev, expected.st_ino == recorded.st_ino
            else {
                throw StorageError(.nameInvalid, "\(what): data_dir \(record.dataDir) is not \(Self.dataRootName)/\(id) of the root; refusing to read outside it")
            }
        }
        return directory
    }

    /// The index as it is now, read under the lock.
    public func index() throws -> SnapshotIndex {
        try locked { try readIndex() }
    }

    /// A read-modify-write of the index under the lock; the file is replaced by rename (compact
    /// JSON and a newline, mode 0644, as cocoon writes it) only when `body` changed it.
    @discardableResult
    public func update<T>(_ body: (inout SnapshotIndex) throws -> T) throws -> T {
        try locked(create: true) {
            var index = try readIndex()
            let before = index
            let result = try body(&index)
            if index != before {
                try directory().writeAtomically(index.encoded(), to: Self.indexName)
            }
            return result
        }
    }

    // MARK: writers that are gone

    /// The lock file a Ferry writer holds from the moment it adds a pending record until the
    /// record is complete or gone: `snapshot/db/.ferry-writer-<id>.lock`. cocoon never looks at it.
    static func writerLockName(_ id: String) -> String { "\(database)/.ferry-writer-\(id).lock" }

    /// How long a pending record without a writer lock (cocoon's own, or an older Ferry's) may
    /// stay before it counts as abandoned: cocoon's garbage collector's rule.
    static let pendingLifetime: TimeInterval = 24 * 3600

    /// Creates and locks the writer lock of `id`; call it under the index lock, before the
    /// pending record is stored. Closing the descriptor (or the writer's death) lets go of it.
    func holdWriterLock(_ id: String) throws -> FileDescriptor {
        let fd = try directory().open(Self.writerLockName(id), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode: 0o600)
        guard flock(fd.rawValue, LOCK_EX | LOCK_NB) == 0 else {
            try? fd.close()
            throw StorageError(.unknown, "cocoon:\(path): cannot lock \(Self.writerLockName(id)): \(Errno(rawValue: errno))")
        }
        return fd
    }

    /// Lets go of a writer lock: the file goes first, then the lock with the descriptor.
    func releaseWriterLock(_ id: String, _ fd: FileDescriptor) {
        _ = try? directory().removeFile(Self.writerLockName(id))
        try? fd.close()
    }

    /// A read-modify-write of the index that first takes out what killed writers left: a pending
    /// record whose Ferry writer lock nobody holds (or, without one, older than a day), and the
    /// names that point to it. Their data directories and lock files go once the index without
    /// them is stored, so a failed write leaves the records findable for the next writer.
    @discardableResult
    public func updateReclaiming<T>(_ body: (inout SnapshotIndex) throws -> T) throws -> T {
        var abandoned: [(id: String, removeData: Bool)] = []
        let result = try update { index -> T in
            abandoned = try self.takeOutAbandoned(&index)
            return try body(&index)
        }
        guard let directory = try? directory() else { return result }
        for (id, removeData) in abandoned {
            if removeData { try? directory.removeTree("\(Self.dataRootName)/\(id)") }
            _ = try? directory.removeFile(Self.writerLockName(id))
        }
        return result
    }

    private func takeOutAbandoned(_ index: inout SnapshotIndex, now: Date = Date()) throws -> [(id: String, removeData: Bool)] {
        let directory = try directory()
        // An index rewrite killed before its rename leaves its temporary file in db/.
        if let database = try? directory.subdirectory(Self.database) { _ = try? directory.sweepTemporaryFiles(in: [database]) }
        var abandoned: [(id: String, removeData: Bool)] = []
        var locked: Set<String> = []
        for entry in (try? directory.entries(Self.database)) ?? [] where entry.hasPrefix(".ferry-writer-") && entry.hasSuffix(".lock") {
            let id = String(entry.dropFirst(".ferry-writer-".count).dropLast(".lock".count))
            guard Self.isValidID(id) else { continue }
            locked.insert(id)
            guard directory.abandonedType("\(Self.database)/\(entry)") == S_IFREG else { continue }
            // Its writer is gone. A record it completed stays; one it left pending goes.
            let pending = index.snapshots[id]?.pending ?? true
            abandoned.append((id, pending))
        }
        for (id, record) in index.snapshots where record.pending && !locked.contains(id) && Self.isValidID(id) {
            if let created = GoJSON.parseTimestamp(record.createdAt), now.timeIntervalSince(created) > Self.pendingLifetime {
                abandoned.append((id, true))
            }
        }
        for (id, removeData) in abandoned where removeData {
            index.snapshots[id] = nil
            for (name, owner) in index.names where owner == id { index.names[name] = nil }
        }
        return abandoned
    }

    /// Resolves a reference as cocoon does (§5.5): an id, a name, or a unique id prefix of three
    /// characters or more. Pending records are not found.
    public func resolve(_ reference: String) throws -> (id: String, record: SnapshotRecord) {
        try Self.resolve(reference, in: try index(), root: self)
    }

    static func resolve(_ reference: String, in index: SnapshotIndex, root: CocoonRoot) throws -> (id: String, record: SnapshotRecord) {
        let live = index.snapshots.filter { !$0.value.pending }
        if let record = live[reference] { return (reference, record) }
        if let id = index.names[reference], let record = live[id] { return (id, record) }
        if reference.count >= 3 {
            let matches = live.filter { $0.key.hasPrefix(reference) }
            if matches.count > 1 {
                throw StorageError(.nameUnknown, "cocoon:\(root.path)#\(reference): ambiguous: \(matches.keys.sorted().joined(separator: ", ")) all start with it")
            }
            if let match = matches.first { return (match.key, match.value) }
        }
        throw StorageError(.nameUnknown, "cocoon:\(root.path)#\(reference): snapshot not found")
    }

    /// A fresh id in cocoon's current format: 26 characters of A–Z and 2–7 (Go's `rand.Text`).
    public static func newID() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var generator = SystemRandomNumberGenerator()
        return String((0..<26).map { _ in alphabet[Int(generator.next() % 32)] })
    }

    /// Runs `body` under cocoon's lock; a writer (`create`) makes the root first, a reader needs
    /// it to exist.
    private func locked<T>(create: Bool = false, _ body: () throws -> T) throws -> T {
        let directory = try self.directory(create: create)
        do {
            _ = try directory.subdirectory(Self.database, create: true)
        } catch let error as StorageError {
            throw StorageError(error.code, "cocoon:\(path): cannot create \(Self.database): \(error.message)")
        }
        let fd: FileDescriptor
        do {
            fd = try directory.open(Self.lockName, O_RDONLY | O_CREAT | O_NONBLOCK, mode: 0o644)
        } catch let error as StorageError {
            throw StorageError(error.code, "cocoon:\(path): cannot open the lock: \(error.message)")
        }
        defer { try? fd.close() }
        while flock(fd.rawValue, LOCK_EX) != 0 {
            guard errno == EINTR else { throw StorageError(.unknown, "cocoon:\(path): cannot lock \(Self.lockName): \(Errno(rawValue: errno))") }
        }
        return try body()
    }

    private func readIndex() throws -> SnapshotIndex {
        let directory = try directory()
        guard directory.exists(Self.indexName) else { return SnapshotIndex() }
        let bytes = try directory.readFile(Self.indexName, limit: 256 << 20)
        return try SnapshotIndex(bytes: bytes, what: "cocoon:\(path): \(Self.indexName)")
    }
}

/// `snapshots.json`: records by id and ids by name.
public struct SnapshotIndex: Sendable, Equatable {
    public var snapshots: [String: SnapshotRecord] = [:]
    public var names: [String: String] = [:]

    public init() {}

    init(bytes: [UInt8], what: String) throws {
        let json: GoJSON
        do { json = try GoJSON(parsing: bytes) } catch { throw StorageError(.unknown, "\(what): \(error)") }
        guard json.members != nil else { throw StorageError(.unknown, "\(what): not a JSON object") }
        for member in json["snapshots"]?.members ?? [] {
            snapshots[member.key] = try SnapshotRecord(member.value, what: "\(what): snapshot \(member.key)")
        }
        for member in json["names"]?.members ?? [] {
            guard let id = member.value.stringValue else { throw StorageError(.unknown, "\(what): names.\(member.key) is not a string") }
            names[member.key] = id
        }
    }

    /// Compact JSON and a newline, maps sorted by key: Go's `json.Marshal` of cocoon's index.
    func encoded() -> [UInt8] {
        let document = GoJSON.object([
            ("snapshots", .map(snapshots.mapValues(\.json))), ("names", .map(names.mapValues { .string($0) })),
        ])
        return Array((document.compact() + "\n").utf8)
    }
}
