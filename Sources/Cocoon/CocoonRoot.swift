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

    /// The root directory, opened (and made, with its parents' consent) once.
    func directory() throws -> ContainedDirectory {
        try opened.get {
            do {
                return try ContainedDirectory(opening: path, create: true)
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
        try locked {
            var index = try readIndex()
            let before = index
            let result = try body(&index)
            if index != before {
                try directory().writeAtomically(index.encoded(), to: Self.indexName)
            }
            return result
        }
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

    private func locked<T>(_ body: () throws -> T) throws -> T {
        let directory = try directory()
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
