import FerryCore
import Foundation

/// Cocoon's `types.SnapshotConfig`: what a snapshot record and an export envelope say about the
/// VM (FORMATS.md §5.2, §6.2). Keys this version does not know are kept and written back.
public struct SnapshotConfig: Sendable, Equatable {
    public var cpu: Int64 = 0
    /// Bytes.
    public var memory: Int64 = 0
    /// Bytes.
    public var storage: Int64 = 0
    public var queueSize: Int64 = 0
    public var diskQueueSize: Int64 = 0
    public var image = ""
    public var imageDigest = ""
    /// `oci` or `cloudimg`.
    public var imageType = ""
    public var network = ""
    public var noDirectIO = false
    public var windows = false
    public var id = ""
    public var name = ""
    public var description = ""
    /// Hex digests of the base-image blobs the snapshot's disk refers to.
    public var imageBlobIDs: [String] = []
    /// `cloud-hypervisor` or `firecracker`.
    public var hypervisor = ""
    public var nics: Int64 = 0
    /// Members this version of Ferry does not know, in their order.
    public var unknown: [GoJSON.Member] = []

    public init() {}

    /// Cocoon's JSON keys in the order cocoon writes them.
    static let keys = [
        "cpu", "memory", "storage", "queue_size", "disk_queue_size", "image", "image_digest", "image_type", "network",
        "no_direct_io", "windows", "id", "name", "description", "image_blob_ids", "hypervisor", "nics",
    ]

    /// Reads the config members of a record or an envelope; `ignoring` names keys that belong
    /// to the enclosing record.
    init(_ json: GoJSON, ignoring recordKeys: Set<String> = [], what: String) throws {
        guard let members = json.members else { throw StorageError(.unknown, "\(what): not a JSON object") }
        func int(_ key: String) throws -> Int64 {
            guard let value = json[key], value != .null else { return 0 }
            guard let number = value.int64Value else { throw StorageError(.unknown, "\(what): \(key) is not an integer") }
            return number
        }
        func string(_ key: String) throws -> String {
            guard let value = json[key], value != .null else { return "" }
            guard let text = value.stringValue else { throw StorageError(.unknown, "\(what): \(key) is not a string") }
            return text
        }
        func bool(_ key: String) throws -> Bool {
            guard let value = json[key], value != .null else { return false }
            guard let flag = value.boolValue else { throw StorageError(.unknown, "\(what): \(key) is not a boolean") }
            return flag
        }
        cpu = try int("cpu")
        memory = try int("memory")
        storage = try int("storage")
        queueSize = try int("queue_size")
        diskQueueSize = try int("disk_queue_size")
        image = try string("image")
        imageDigest = try string("image_digest")
        imageType = try string("image_type")
        network = try string("network")
        noDirectIO = try bool("no_direct_io")
        windows = try bool("windows")
        id = try string("id")
        name = try string("name")
        description = try string("description")
        // A Go map: a key given twice is one key.
        imageBlobIDs = Set((json["image_blob_ids"]?.members ?? []).map(\.key)).sorted()
        hypervisor = try string("hypervisor")
        nics = try int("nics")
        let known = Set(Self.keys).union(recordKeys)
        unknown = members.filter { !known.contains($0.key) }
    }

    /// The members as cocoon writes them: its order, `omitempty` on all but `name`.
    func members() -> [(String, GoJSON)] {
        let values: [(String, GoJSON)] = [
            ("cpu", .int(cpu)), ("memory", .int(memory)), ("storage", .int(storage)), ("queue_size", .int(queueSize)),
            ("disk_queue_size", .int(diskQueueSize)), ("image", .string(image)), ("image_digest", .string(imageDigest)),
            ("image_type", .string(imageType)), ("network", .string(network)), ("no_direct_io", .bool(noDirectIO)),
            ("windows", .bool(windows)), ("id", .string(id)), ("name", .string(name)), ("description", .string(description)),
            ("image_blob_ids", .map(Dictionary(imageBlobIDs.map { ($0, GoJSON.object([GoJSON.Member]())) }, uniquingKeysWith: { a, _ in a }))),
            ("hypervisor", .string(hypervisor)), ("nics", .int(nics)),
        ]
        return values.filter { $0.0 == "name" || !$0.1.isEmptyValue }
    }
}

/// One entry of `snapshots.json`: the config flattened with the record's own keys.
public struct SnapshotRecord: Sendable, Equatable {
    public var config: SnapshotConfig
    /// Local time, RFC 3339 with nanoseconds, as Go wrote it.
    public var createdAt: String
    /// True while cocoon (or Ferry) is still writing the data directory.
    public var pending: Bool
    /// The absolute path of the snapshot's files.
    public var dataDir: String

    static let recordKeys: Set<String> = ["created_at", "pending", "data_dir"]

    public init(config: SnapshotConfig, createdAt: String, pending: Bool, dataDir: String) {
        self.config = config
        self.createdAt = createdAt
        self.pending = pending
        self.dataDir = dataDir
    }

    init(_ json: GoJSON, what: String) throws {
        config = try SnapshotConfig(json, ignoring: Self.recordKeys, what: what)
        createdAt = json["created_at"]?.stringValue ?? ""
        pending = json["pending"]?.boolValue ?? false
        dataDir = json["data_dir"]?.stringValue ?? ""
    }

    var json: GoJSON {
        var members = config.members()
        members.append(("created_at", .string(createdAt)))
        if pending { members.append(("pending", .bool(true))) }
        if !dataDir.isEmpty { members.append(("data_dir", .string(dataDir))) }
        return .object(members.map { GoJSON.Member($0.0, $0.1) } + config.unknown)
    }
}
