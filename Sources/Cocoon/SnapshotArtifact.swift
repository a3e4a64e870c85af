import FerryCore
import Foundation
import OCI

/// One file of a snapshot's data directory: one layer of the artifact.
public struct SnapshotFile: Sendable, Equatable {
    public var name: String
    /// Permission bits (0o644).
    public var mode: UInt32
    /// The file's length.
    public var size: Int64
    /// Where the data is, for a file stored sparse: the layer then holds only those bytes.
    public var sparseMap: SparseMap?

    /// A file; only the permission bits of `mode` are kept: setuid, setgid and sticky bits
    /// never travel from content to disk or into an export.
    public init(name: String, mode: UInt32, size: Int64, sparseMap: SparseMap? = nil) {
        self.name = name
        self.mode = mode & 0o777
        self.size = size
        self.sparseMap = sparseMap
    }

    /// The layer's size: the data bytes of a sparse file, else the whole file.
    public var storedSize: Int64 { sparseMap?.dataSize ?? size }

    /// Makes this file sparse from a recorded map (a PAX record, or `files[].sparseMap`): the
    /// map must be valid for `logicalSize` and hold exactly the stored bytes.
    mutating func applySparseMap(_ text: String, logicalSize: Int64?, what: String) throws {
        guard let logicalSize, logicalSize > 0 else { throw StorageError(.manifestInvalid, "\(what): a sparse map without a valid file size") }
        let map: SparseMap
        do { map = try SparseMap(jsonText: text, logicalSize: logicalSize) } catch { throw StorageError(.manifestInvalid, "\(what): \(error)") }
        guard map.dataSize == storedSize else {
            throw StorageError(.manifestInvalid, "\(what): the sparse map holds \(map.dataSize) bytes, the data \(storedSize)")
        }
        size = logicalSize
        sparseMap = map
    }
}

/// What the annotations and time stamps of a built artifact say (`--base-image`, `--source`,
/// `--revision`, `--created`), and how a disk is cut into parts (`--part-size`).
public struct SnapshotArtifactOptions: Sendable {
    public var baseImage: String?
    public var source: String?
    public var revision: String?
    /// A fixed creation time makes the artifact reproducible; nil reads the clock.
    public var created: Date?
    /// A disk file larger than this becomes `.part` layers of this size; nil keeps one layer.
    public var partSize: Int64?

    public init(baseImage: String? = nil, source: String? = nil, revision: String? = nil, created: Date? = nil, partSize: Int64? = nil) {
        self.baseImage = baseImage
        self.source = source
        self.revision = revision
        self.created = created
        self.partSize = partSize
    }
}

/// The snapshot artifact epoch pushes (FORMATS.md §2), built from a snapshot and read back.
public enum SnapshotArtifact {
    /// A layer's media type, from its file name (§2.2).
    public static func layerMediaType(for name: String) -> String {
        switch name {
        case "config.json": return MediaType.cocoonVMConfig
        case "state.json": return MediaType.cocoonVMState
        case "memory-ranges": return MediaType.cocoonVMMemory
        case "cidata.img": return MediaType.cocoonVMCidata
        default:
            if name.hasSuffix(".qcow2") { return MediaType.cocoonDiskQcow2 }
            if name.hasSuffix(".raw") { return MediaType.cocoonDiskRaw }
            return MediaType.octetStream
        }
    }

    /// The config blob: compact, epoch's key order (§2.3), plus the keys epoch drops
    /// (`queueSize`, `diskQueueSize`, `noDirectIO`), which epoch's readers ignore.
    public static func configBlob(_ config: SnapshotConfig, files: [SnapshotFile], createdAt: Date) -> [UInt8] {
        var members: [(String, GoJSON)] = [("schemaVersion", .string("v1")), ("snapshotId", .string(config.id))]
        let optional: [(String, GoJSON)] = [
            ("description", .string(config.description)), ("image", .string(config.image)),
            ("imageDigest", .string(config.imageDigest)), ("imageType", .string(config.imageType)),
            ("imageBlobIds", .map(Dictionary(config.imageBlobIDs.map { ($0, GoJSON.object([GoJSON.Member]())) }, uniquingKeysWith: { a, _ in a }))),
            ("hypervisor", .string(config.hypervisor)), ("cpu", .int(config.cpu)), ("memory", .int(config.memory)),
            ("storage", .int(config.storage)), ("nics", .int(config.nics)), ("network", .string(config.network)),
            ("windows", .bool(config.windows)), ("queueSize", .int(config.queueSize)),
            ("diskQueueSize", .int(config.diskQueueSize)), ("noDirectIO", .bool(config.noDirectIO)),
            ("files", .map(Dictionary(files.map { ($0.name, fileEntry($0)) }, uniquingKeysWith: { _, b in b }))),
        ]
        members += optional.filter { !$0.1.isEmptyValue }
        members.append(("createdAt", .string(GoJSON.timestamp(createdAt, in: TimeZone(secondsFromGMT: 0)!))))
        return Array(GoJSON.object(members).compact().utf8)
    }

    private static func fileEntry(_ file: SnapshotFile) -> GoJSON {
        var members: [(String, GoJSON)] = []
        if file.mode != 0 { members.append(("mode", .int(file.mode))) }
        if let map = file.sparseMap {
            members.append(("sparseMap", .string(map.jsonText)))
            if map.logicalSize != 0 { members.append(("sparseSize", .int(map.logicalSize))) }
        }
        return .object(members)
    }

    /// The manifest: indented as epoch writes it, layers in file order, each titled.
    public static func manifest(config: Descriptor, layers: [Descriptor], options: SnapshotArtifactOptions, created: Date) -> [UInt8] {
        func descriptor(_ d: Descriptor) -> GoJSON {
            var members: [(String, GoJSON)] = [("mediaType", .string(d.mediaType)), ("digest", .string(d.digest.description)), ("size", .int(d.size))]
            if let annotations = d.annotations, !annotations.isEmpty { members.append(("annotations", .map(annotations.mapValues { .string($0) }))) }
            return .object(members)
        }
        var annotations = [AnnotationKey.created: createdAnnotation(created)]
        if let base = options.baseImage, !base.isEmpty { annotations[AnnotationKey.cocoonBaseImage] = base }
        if let source = options.source, !source.isEmpty { annotations["org.opencontainers.image.source"] = source }
        if let revision = options.revision, !revision.isEmpty { annotations["org.opencontainers.image.revision"] = revision }
        let document = GoJSON.object([
            ("schemaVersion", .int(2)), ("mediaType", .string(MediaType.imageManifest)),
            ("artifactType", .string(MediaType.cocoonSnapshot)), ("config", descriptor(config)),
            ("layers", layers.isEmpty ? .null : .array(layers.map(descriptor))), ("annotations", .map(annotations.mapValues { .string($0) })),
        ])
        return Array(document.indented().utf8)
    }

    /// `2006-01-02T15:04:05Z`: whole seconds, UTC.
    static func createdAnnotation(_ date: Date) -> String {
        GoJSON.timestamp(Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)), in: TimeZone(secondsFromGMT: 0)!)
    }

    /// A layer descriptor for a file whose stored bytes hash to `digest`.
    public static func layer(for file: SnapshotFile, digest: Digest) -> Descriptor {
        Descriptor(mediaType: layerMediaType(for: file.name), digest: digest, size: file.storedSize, annotations: [AnnotationKey.title: file.name])
    }

    // MARK: reading an artifact back

    /// A snapshot artifact taken apart: what a cocoon destination needs to rebuild the snapshot.
    public struct Parts: Sendable {
        /// The config; `name` is empty (the artifact does not carry it).
        public var config: SnapshotConfig
        /// One file per layer, in layer order, with the layer that holds it.
        public var files: [(file: SnapshotFile, layer: Descriptor)]
    }

    /// Checks that `manifest` is a snapshot artifact and reads its config blob (§2.6).
    /// The name of the envelope in an export tarball, which no layer may take.
    static let envelopeName = "snapshot.json"

    /// The largest snapshot config read: its sparse maps are JSON strings inside it, and a disk
    /// of 700,000 data runs needs about 20 MiB (epoch's pull reads 1 MiB; a snapshot pushed by
    /// Ferry from such a disk stays readable here).
    static let configLimit = 64 << 20

    public static func parts(of manifest: Manifest, configBytes: [UInt8], what: String) throws -> Parts {
        guard case .image(let image) = manifest.content, manifest.kind == .snapshot else {
            throw StorageError(.manifestInvalid, "\(what): is a \(manifest.kind.rawValue), not a cocoon snapshot")
        }
        guard image.config.mediaType == MediaType.cocoonSnapshotConfig else {
            throw StorageError(.manifestInvalid, "\(what): the config is \(image.config.mediaType), not \(MediaType.cocoonSnapshotConfig)")
        }
        let json: GoJSON
        do { json = try GoJSON(parsing: configBytes) } catch { throw StorageError(.manifestInvalid, "\(what): snapshot config: \(error)") }
        var config = SnapshotConfig()
        config.id = json["snapshotId"]?.stringValue ?? ""
        config.description = json["description"]?.stringValue ?? ""
        config.image = json["image"]?.stringValue ?? ""
        config.imageDigest = json["imageDigest"]?.stringValue ?? ""
        config.imageType = json["imageType"]?.stringValue ?? ""
        config.imageBlobIDs = Set((json["imageBlobIds"]?.members ?? []).map(\.key)).sorted()  // a Go map: a key given twice is one
        config.hypervisor = json["hypervisor"]?.stringValue ?? ""
        config.cpu = json["cpu"]?.int64Value ?? 0
        config.memory = json["memory"]?.int64Value ?? 0
        config.storage = json["storage"]?.int64Value ?? 0
        config.nics = json["nics"]?.int64Value ?? 0
        config.network = json["network"]?.stringValue ?? ""
        config.windows = json["windows"]?.boolValue ?? false
        config.queueSize = json["queueSize"]?.int64Value ?? 0
        config.diskQueueSize = json["diskQueueSize"]?.int64Value ?? 0
        config.noDirectIO = json["noDirectIO"]?.boolValue ?? false

        var files: [(file: SnapshotFile, layer: Descriptor)] = []
        var seen = Set<String>()
        for layer in image.layers {
            guard let title = layer.title, !title.isEmpty else { throw StorageError(.manifestInvalid, "\(what): layer \(layer.digest) has no title") }
            guard ArchiveName.isPlainFileName(title) else {
                throw StorageError(.manifestInvalid, "\(what): layer title \(title) is not a plain file name")
            }
            guard title != SnapshotArtifact.envelopeName else {
                throw StorageError(.manifestInvalid, "\(what): a layer is titled \(title), the name of the export's own envelope")
            }
            guard seen.insert(title).inserted else { throw StorageError(.manifestInvalid, "\(what): two layers are titled \(title)") }
            let entry = json["files"]?[title]
            let mode = entry?["mode"]?.int64Value ?? 0
            var file = SnapshotFile(name: title, mode: mode > 0 && mode <= 0o7777 ? UInt32(mode) : 0o640, size: layer.size)
            if let text = entry?["sparseMap"]?.stringValue, !text.isEmpty {
                try file.applySparseMap(text, logicalSize: entry?["sparseSize"]?.int64Value, what: "\(what): \(title)")
            }
            files.append((file, layer))
        }
        return Parts(config: config, files: files)
    }
}

/// Names a cocoon data directory can hold.
enum ArchiveName {
    /// A single path component that is not `.`, `..` or hidden by a slash or NUL.
    static func isPlainFileName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0") && name.utf8.count <= 255
    }
}
