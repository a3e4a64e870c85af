import FerryCore
import Foundation
import OCI
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// `disk:FILE`: a qcow2 or raw disk, the payload of a cloud-image artifact (FORMATS.md §3).
///
/// Read, the file is an os-image artifact: an empty config and one disk layer, or `.part`
/// layers of `partSize` bytes titled so that they sort in order. Written, the disk layers of any
/// cloud image are concatenated in title order, as epoch assembles them, into a temporary file
/// whose zero blocks stay holes, renamed into place when the copy succeeds.
public final class DiskStore: WholeArtifactStore {
    public let path: FilePath
    public let displayName: String
    let options: SnapshotArtifactOptions
    private let cached = Mutex<DiskView?>(nil)
    /// Whether a block device at the path may be written in place (`--overwrite-device`).
    public let overwritesDevice: Bool
    private let writing = Mutex<Writing?>(nil)

    /// A copy into the disk: where the bytes go, and in which order they are taken.
    private struct Writing: Sendable {
        var delivery: OrderedDelivery
        var target: Target
        var writer: SparseFileWriter
        var root: Manifest
    }

    /// A temporary file renamed over the destination, or a block device written in place.
    private enum Target: Sendable {
        case file(FileDestination, TempFile)
        case device(FileDescriptor)
    }

    public init(file: String, options: SnapshotArtifactOptions = SnapshotArtifactOptions(), overwritesDevice: Bool = false) {
        path = FileSystem.absolute(file)
        self.options = options
        self.overwritesDevice = overwritesDevice
        displayName = "disk:\(file)"
    }

    /// The artifact a disk file is read as.
    struct DiskView: Sendable {
        var manifest: Manifest
        var config: Descriptor
        var layers: [Descriptor]
        var ranges: [Range<Int64>]
    }

    static let emptyConfig = Array("{}".utf8)

    private func view() async throws -> DiskView {
        if let done = cached.withLock({ $0 }) { return done }
        guard let size = FileSystem.regularFileSize(path) else { throw StorageError(.nameUnknown, "\(displayName): no such file") }
        let path = self.path
        var magic = [UInt8](repeating: 0, count: 4)
        let fd = open(path.string, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError(.unknown, "\(displayName): \(Errno(rawValue: errno))") }
        let got = pread(fd, &magic, 4, 0)
        close(fd)
        let qcow2 = got == 4 && magic == [0x51, 0x46, 0x49, 0xFB]
        let format = qcow2 ? "qcow2" : "raw"
        let partSize = options.partSize.flatMap { $0 > 0 && size > $0 ? $0 : nil }
        let ranges: [Range<Int64>] = partSize.map { part in stride(from: Int64(0), to: size, by: Int(part)).map { $0..<min($0 + part, size) } }
            ?? [0..<size]
        let name = path.lastComponent?.string ?? "disk"
        let width = max(2, String(ranges.count - 1).count)
        let digests = try await withThrowingTaskGroup(of: (Int, Digest).self) { group in
            var found = [Digest?](repeating: nil, count: ranges.count)
            for (index, range) in ranges.enumerated() {
                if index >= 2, let (done, digest) = try await group.next() { found[done] = digest }
                group.addTask {
                    var hasher = DigestHasher(.sha256)
                    for try await chunk in try ByteStream.file(at: path, offset: range.lowerBound, length: Int64(range.count)) {
                        chunk.withUnsafeBytes { hasher.update($0) }
                    }
                    return (index, hasher.finalize())
                }
            }
            while let (done, digest) = try await group.next() { found[done] = digest }
            return found.map { $0! }
        }
        let layers = ranges.indices.map { index -> Descriptor in
            let title = ranges.count == 1 ? name : "\(name).\(String(repeating: "0", count: width - String(index).count))\(index).\(format).part"
            let type = ranges.count == 1 ? (qcow2 ? MediaType.cocoonDiskQcow2 : MediaType.cocoonDiskRaw)
                : (qcow2 ? MediaType.cocoonDiskQcow2Part : MediaType.cocoonDiskRawPart)
            return Descriptor(mediaType: type, digest: digests[index], size: Int64(ranges[index].count), annotations: [AnnotationKey.title: title])
        }
        let config = Descriptor(mediaType: MediaType.emptyJSON, digest: Digest.compute(Self.emptyConfig), size: 2)
        let manifest = try Manifest(bytes: Self.manifest(config: config, layers: layers, created: options.created ?? Date()))
        let made = DiskView(manifest: manifest, config: config, layers: layers, ranges: ranges)
        cached.withLock { $0 = made }
        return made
    }

    /// The os-image manifest, indented as epoch's tools write manifests.
    static func manifest(config: Descriptor, layers: [Descriptor], created: Date) -> [UInt8] {
        func descriptor(_ d: Descriptor) -> GoJSON {
            var members: [(String, GoJSON)] = [("mediaType", .string(d.mediaType)), ("digest", .string(d.digest.description)), ("size", .int(d.size))]
            if let annotations = d.annotations { members.append(("annotations", .map(annotations.mapValues { .string($0) }))) }
            return .object(members)
        }
        return Array(GoJSON.object([
            ("schemaVersion", .int(2)), ("mediaType", .string(MediaType.imageManifest)), ("artifactType", .string(MediaType.cocoonOSImage)),
            ("config", descriptor(config)), ("layers", .array(layers.map(descriptor))),
            ("annotations", .map([AnnotationKey.created: .string(SnapshotArtifact.createdAnnotation(created))])),
        ]).indented().utf8)
    }

    public func resolve(_ selector: ManifestSelector?, in repository: String) async throws -> Descriptor {
        let view = try await view()
        switch selector {
        case nil, .tag("latest")?: return view.manifest.descriptor
        case .digest(let digest)? where digest == view.manifest.digest: return view.manifest.descriptor
        default: throw StorageError(.manifestUnknown, "\(displayName): a disk file is one artifact (latest); no \(selector!)")
        }
    }

    public func fetch(_ descriptor: Descriptor, in repository: String) async throws -> ByteStream {
        let view = try await view()
        if descriptor.digest == view.manifest.digest { return .bytes(view.manifest.bytes) }
        if descriptor.digest == view.config.digest { return .bytes(Self.emptyConfig) }
        guard let index = view.layers.firstIndex(where: { $0.digest == descriptor.digest }) else {
            throw StorageError(.blobUnknown, "\(displayName): no blob \(descriptor.digest)")
        }
        return try ByteStream.file(at: path, offset: view.ranges[index].lowerBound, length: Int64(view.ranges[index].count))
    }

    public func blobExists(_ digest: Digest, in repository: String) async throws -> Bool {
        guard writing.withLock({ $0 }) == nil, FileSystem.exists(path) else { return false }
        let view = try await view()
        return digest == view.config.digest || view.layers.contains { $0.digest == digest }
    }

    public func blobSize(_ digest: Digest, in repository: String) async throws -> Int64? {
        guard writing.withLock({ $0 }) == nil, FileSystem.exists(path) else { return nil }
        let view = try await view()
        if digest == view.manifest.digest { return Int64(view.manifest.bytes.count) }
        if digest == view.config.digest { return view.config.size }
        return view.layers.first { $0.digest == digest }?.size
    }

    public func manifestExists(_ digest: Digest, in repository: String) async throws -> Bool {
        guard writing.withLock({ $0 }) == nil, FileSystem.exists(path) else { return false }
        return try await view().manifest.digest == digest
    }

    public func repositories() async throws -> [String] { [""] }
    public func tags(in repository: String) async throws -> [String] { ["latest"] }
    public var deletionRefusal: String { "a disk file holds one artifact; nothing in it can be deleted" }

    // MARK: writing

    public var wantsSequentialBlobs: Bool { true }

    public func willCopy(_ plan: CopyPlan) async throws {
        guard plan.roots.count == 1, let root = plan.roots.first?.manifest, case .image(let image) = root.content else {
            throw StorageError(.unsupported, "\(displayName): takes one cloud image")
        }
        guard root.kind == .cloudImage else {
            throw StorageError(.unsupported, "\(displayName): \(root.digest) is a \(root.kind.rawValue), not a cloud image")
        }
        // epoch's assembly: disk layers only, stable-sorted by title bytes (no title sorts first).
        let disks = image.layers.enumerated().filter { MediaType.cloudImageDisks.contains($0.element.mediaType) }
            .sorted { a, b in
                let (x, y) = (Array((a.element.title ?? "").utf8), Array((b.element.title ?? "").utf8))
                return x == y ? a.offset < b.offset : x.lexicographicallyPrecedes(y)
            }.map(\.element)
        guard !disks.isEmpty else { throw StorageError(.manifestInvalid, "\(displayName): \(root.digest) has no disk layers") }
        let logicalSize = try Arithmetic.sum(disks.map(\.size), what: "\(displayName): the disk layers of \(root.digest)")
        let (path, displayName, overwritesDevice) = (self.path, self.displayName, self.overwritesDevice)
        let (target, spoolIn) = try await BlockingIO.run { () -> (Target, ContainedDirectory) in
            var info = stat()
            if stat(path.string, &info) == 0, info.st_mode & S_IFMT == S_IFBLK {
                guard overwritesDevice else {
                    throw StorageError(.nameInvalid, "\(displayName): is a block device; pass --overwrite-device to write the disk onto it")
                }
                let fd = Glibc.open(path.string, O_WRONLY | O_CLOEXEC)
                guard fd >= 0 else { throw StorageError(.unknown, "\(displayName): cannot open the device: \(Errno(rawValue: errno))") }
                let device = FileDescriptor(rawValue: fd)
                let capacity = lseek(fd, 0, SEEK_END)
                guard capacity >= 0, Int64(capacity) >= logicalSize else {
                    try? device.close()
                    throw StorageError(.sizeInvalid, "\(displayName): the device holds \(capacity) bytes, the disk needs \(logicalSize)")
                }
                let parent = path.removingLastComponent()
                return (.device(device), try ContainedDirectory(opening: parent.isEmpty ? "." : parent))
            }
            let (destination, temp) = try FileDestination.begin(path: path, displayName: displayName)
            return (.file(destination, temp), destination.directory)
        }
        let writer: SparseFileWriter
        switch target {
        case .file(_, let temp): writer = SparseFileWriter(fd: temp.rawDescriptor, logicalSize: logicalSize, map: nil)
        case .device(let fd): writer = SparseFileWriter(fd: fd.rawValue, logicalSize: logicalSize, map: nil, inPlace: true)
        }
        let delivery = OrderedDelivery(
            sequence: disks, displayName: displayName, spool: Spool(in: spoolIn)
        ) { _, stream in
            for try await chunk in stream { try await BlockingIO.run { try writer.write(chunk) } }
        }
        writing.withLock { $0 = Writing(delivery: delivery, target: target, writer: writer, root: root) }
    }

    private func active() throws -> Writing {
        guard let state = writing.withLock({ $0 }) else { throw StorageError(.unsupported, "\(displayName): nothing is being written") }
        return state
    }

    public func pushBlob(_ descriptor: Descriptor, from stream: ByteStream, in repository: String) async throws {
        try await active().delivery.accept(descriptor, from: stream)
    }

    public func pushManifest(_ manifest: Manifest, as target: ManifestTarget, in repository: String) async throws {
        let state = try active()
        guard manifest.digest == state.root.digest else { return }
        if let missing = state.delivery.missing { throw StorageError(.blobUnknown, "\(displayName): \(missing.digest) never arrived") }
    }

    public func commit() async throws {
        let state = try active()
        let displayName = self.displayName
        try await BlockingIO.run {
            try state.writer.finish()
            switch state.target {
            case .file(let destination, let temp):
                defer { destination.unlock() }
                try destination.commit(temp)
            case .device(let fd):
                defer { try? fd.close() }
                guard fsync(fd.rawValue) == 0 else { throw StorageError(.unknown, "\(displayName): fsync: \(Errno(rawValue: errno))") }
            }
        }
        state.delivery.cleanUp()
        writing.withLock { $0 = nil }
    }

    /// Drops the temporary file; a device already written in part stays as it is (the user asked
    /// for it to be overwritten).
    public func abort() async {
        guard let state = writing.withLock({ $0 }) else { return }
        switch state.target {
        case .file(let destination, let temp):
            temp.discard()
            destination.unlock()
        case .device(let fd):
            try? fd.close()
        }
        state.delivery.cleanUp()
        writing.withLock { $0 = nil }
    }
}
