import FerryCore
import Foundation
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A cocoon root directory (FORMATS.md §5): the snapshot index `snapshot/db/snapshots.json`,
/// guarded by `flock` on `snapshot/db/snapshots.lock` exactly as cocoon guards it, and the data
/// directories `snapshot/localfile/<id>/`.
public struct CocoonRoot: Sendable {
    public let path: FilePath

    public init(path: FilePath) { self.path = path }

    /// `COCOON_ROOT_DIR`, else cocoon's default `/var/lib/cocoon`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> FilePath {
        FilePath(environment["COCOON_ROOT_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/var/lib/cocoon")
    }

    var database: FilePath { path.appending("snapshot/db") }
    var indexFile: FilePath { database.appending("snapshots.json") }
    var lockFile: FilePath { database.appending("snapshots.lock") }
    /// Where the data directories live.
    public var dataRoot: FilePath { path.appending("snapshot/localfile") }

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
                try FileSystem.writeAtomically(index.encoded(), to: indexFile)
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
        do {
            try FileManager.default.createDirectory(atPath: database.string, withIntermediateDirectories: true)
        } catch {
            throw StorageError(.unknown, "cocoon:\(path): cannot create \(database): \(error.localizedDescription)")
        }
        let fd = open(lockFile.string, O_RDONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError(.unknown, "cocoon:\(path): cannot open \(lockFile): \(Errno(rawValue: errno))") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw StorageError(.unknown, "cocoon:\(path): cannot lock \(lockFile): \(Errno(rawValue: errno))") }
        }
        return try body()
    }

    private func readIndex() throws -> SnapshotIndex {
        guard FileSystem.exists(indexFile) else { return SnapshotIndex() }
        let bytes = try FileSystem.readFile(indexFile, limit: 256 << 20)
        return try SnapshotIndex(bytes: bytes, what: "cocoon:\(path): \(indexFile)")
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
