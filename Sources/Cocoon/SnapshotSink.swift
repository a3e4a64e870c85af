import FerryCore
import Foundation
import OCI
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Turns the files of a snapshot artifact into something cocoon reads: a data directory in a
/// cocoon root, or an export tarball. It is handed the config first, then every file in layer
/// order, each exactly once.
protocol SnapshotMaterializer: Sendable {
    /// The artifact's config is known: reserve the name, write the envelope.
    func begin(_ parts: SnapshotArtifact.Parts) async throws
    /// One file's stored bytes (the data segments only, for a sparse file), verified as they pass.
    func write(_ file: SnapshotFile, from stream: ByteStream) async throws
    /// Every file is written: make the result visible.
    func finish() async throws
    /// The copy failed: remove every trace.
    func discard() async
}

/// Hands blobs over in a fixed order however they arrive: a one-pass source sends them in its own
/// order, and two items with the same bytes arrive as one blob. Early or repeated blobs wait in a
/// spool directory, verified, until their turn.
final class OrderedDelivery: Sendable {
    private let displayName: String
    private let spoolDirectory: FilePath
    /// What is handed over, in order.
    let sequence: [Descriptor]
    private let deliver: @Sendable (Int, ByteStream) async throws -> Void
    private let state = Mutex<(next: Int, spooled: [Digest: FilePath])>((0, [:]))
    /// Serializes delivery: blobs may be pushed from several tasks.
    private let turn = AsyncLock()

    init(sequence: [Descriptor], displayName: String, spoolDirectory: FilePath, deliver: @escaping @Sendable (Int, ByteStream) async throws -> Void) {
        self.sequence = sequence
        self.displayName = displayName
        self.spoolDirectory = spoolDirectory
        self.deliver = deliver
    }

    /// Whether every item has been handed over.
    var isComplete: Bool { state.withLock { $0.next == sequence.count } }

    /// The first item not handed over yet.
    var missing: Descriptor? { state.withLock { $0.next < sequence.count ? sequence[$0.next] : nil } }

    /// Takes one blob; one that is not in the sequence is read (and verified) and dropped.
    func accept(_ descriptor: Descriptor, from stream: ByteStream) async throws {
        let verified = stream.verifying(descriptor)
        try await turn.run {
            let (wanted, isNext, later) = state.withLock { s -> (Bool, Bool, Bool) in
                let positions = sequence.indices.filter { $0 >= s.next && sequence[$0].digest == descriptor.digest }
                return (!positions.isEmpty, positions.first == s.next, positions.count > 1)
            }
            guard wanted else {
                for try await _ in verified {}
                return
            }
            if isNext && !later {
                try await handOver(verified)
            } else {
                try await spool(descriptor, from: verified)
            }
            try await drainSpool()
        }
    }

    private func handOver(_ stream: ByteStream) async throws {
        let index = state.withLock { $0.next }
        try await deliver(index, stream)
        state.withLock { $0.next += 1 }
    }

    private func spool(_ descriptor: Descriptor, from stream: ByteStream) async throws {
        do {
            try FileManager.default.createDirectory(atPath: spoolDirectory.string, withIntermediateDirectories: true)
        } catch {
            throw StorageError(.unknown, "\(displayName): cannot create \(spoolDirectory): \(error.localizedDescription)")
        }
        let path = spoolDirectory.appending(descriptor.digest.encoded)
        let fd = open(path.string, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StorageError(.unknown, "\(displayName): cannot spool to \(path): \(Errno(rawValue: errno))") }
        defer { close(fd) }
        for try await chunk in stream {
            try await BlockingIO.run {
                var offset = 0
                while offset < chunk.count {
                    let n = chunk[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                    guard n > 0 else { throw StorageError(.unknown, "\(path): \(Errno(rawValue: errno))") }
                    offset += n
                }
            }
        }
        state.withLock { $0.spooled[descriptor.digest] = path }
    }

    private func drainSpool() async throws {
        while true {
            let ready = state.withLock { s -> (FilePath, Descriptor, Bool)? in
                guard s.next < sequence.count, let path = s.spooled[sequence[s.next].digest] else { return nil }
                let digest = sequence[s.next].digest
                return (path, sequence[s.next], sequence[(s.next + 1)...].contains { $0.digest == digest })
            }
            guard let (path, descriptor, keep) = ready else { return }
            try await handOver(try ByteStream.file(at: path).verifying(descriptor))
            if !keep {
                unlink(path.string)
                state.withLock { _ = $0.spooled.removeValue(forKey: descriptor.digest) }
            }
        }
    }

    /// Removes the spool.
    func cleanUp() {
        try? FileManager.default.removeItem(atPath: spoolDirectory.string)
    }
}

/// The write side that both cocoon destinations share: it takes the artifact from the copy plan
/// and hands the materializer the config and then each file in layer order.
final class SnapshotSink: Sendable {
    private let displayName: String
    private let spoolDirectory: FilePath
    private let materializer: any SnapshotMaterializer
    private let root = Mutex<Manifest?>(nil)
    private let delivery = Mutex<OrderedDelivery?>(nil)
    private let parts = Mutex<SnapshotArtifact.Parts?>(nil)

    init(displayName: String, spoolDirectory: FilePath, materializer: any SnapshotMaterializer) {
        self.displayName = displayName
        self.spoolDirectory = spoolDirectory
        self.materializer = materializer
    }

    /// Takes the snapshot artifact to write.
    func willCopy(_ manifest: Manifest) throws {
        guard case .image(let image) = manifest.content, manifest.kind == .snapshot else {
            throw StorageError(.unsupported, "\(displayName): \(manifest.digest) is a \(manifest.kind.rawValue), not a cocoon snapshot")
        }
        root.withLock { $0 = manifest }
        let ordered = OrderedDelivery(sequence: [image.config] + image.layers, displayName: displayName, spoolDirectory: spoolDirectory) {
            [weak self] index, stream in
            try await self?.deliver(index, stream)
        }
        delivery.withLock { $0 = ordered }
    }

    private func deliver(_ index: Int, _ stream: ByteStream) async throws {
        if index == 0 {
            let bytes = try await stream.collect(upTo: 16 << 20, what: "\(displayName): snapshot config")
            guard let manifest = root.withLock({ $0 }) else { return }
            let taken = try SnapshotArtifact.parts(of: manifest, configBytes: bytes, what: displayName)
            try await materializer.begin(taken)
            parts.withLock { $0 = taken }
            return
        }
        guard let file = parts.withLock({ $0 })?.files[index - 1].file else {
            throw StorageError(.unknown, "\(displayName): a layer came before the config")
        }
        try await materializer.write(file, from: stream)
    }

    func pushBlob(_ descriptor: Descriptor, from stream: ByteStream) async throws {
        guard let ordered = delivery.withLock({ $0 }) else { throw StorageError(.unsupported, "\(displayName): nothing is being written") }
        try await ordered.accept(descriptor, from: stream)
    }

    /// The manifest arrives after its blobs: everything must have been handed over by now.
    func pushManifest(_ manifest: Manifest) throws {
        guard manifest.digest == root.withLock({ $0 })?.digest else {
            throw StorageError(.unsupported, "\(displayName): holds one snapshot, not also \(manifest.digest)")
        }
        if let missing = delivery.withLock({ $0 })?.missing {
            throw StorageError(.blobUnknown, "\(displayName): \(missing.digest) never arrived")
        }
    }

    func commit() async throws {
        guard let ordered = delivery.withLock({ $0 }), ordered.isComplete else {
            throw StorageError(.blobUnknown, "\(displayName): the snapshot is incomplete")
        }
        try await materializer.finish()
        ordered.cleanUp()
    }

    func abort() async {
        await materializer.discard()
        delivery.withLock { $0 }?.cleanUp()
    }
}

/// The snapshot a cocoon destination is writing, if any: what its pushes go to.
final class SinkSlot: Sendable {
    private let sinks = Mutex<[String: SnapshotSink]>([:])
    private let displayName: String

    init(displayName: String) { self.displayName = displayName }

    /// Whether a copy is writing into the destination (then nothing of it exists yet).
    var isWriting: Bool { !sinks.withLock { $0.isEmpty } }

    /// The sinks of a copy, by the repository (snapshot name) each writes.
    func install(_ new: [String: SnapshotSink]) { sinks.withLock { $0 = new } }

    /// The sink writing `repository`.
    func active(_ repository: String) throws -> SnapshotSink {
        guard let sink = sinks.withLock({ $0[repository] ?? ($0.count == 1 ? $0.values.first : nil) }) else {
            throw StorageError(.unsupported, "\(displayName): nothing is being written as \(repository)")
        }
        return sink
    }

    /// Completes every snapshot of the copy, in name order.
    func commit() async throws {
        for (_, sink) in sinks.withLock({ $0 }).sorted(by: { $0.key < $1.key }) { try await sink.commit() }
        sinks.withLock { $0 = [:] }
    }

    func abort() async {
        for sink in sinks.withLock({ $0.values }) { await sink.abort() }
        sinks.withLock { $0 = [:] }
    }
}

/// A lock that async tasks wait for in turn.
final class AsyncLock: Sendable {
    private let waiters = Mutex<(busy: Bool, queue: [CheckedContinuation<Void, Never>])>((false, []))

    func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = waiters.withLock { w -> Bool in
                if w.busy {
                    w.queue.append(continuation)
                    return false
                }
                w.busy = true
                return true
            }
            if ready { continuation.resume() }
        }
    }

    private func release() {
        let nextWaiter = waiters.withLock { w -> CheckedContinuation<Void, Never>? in
            if w.queue.isEmpty {
                w.busy = false
                return nil
            }
            return w.queue.removeFirst()
        }
        nextWaiter?.resume()
    }
}
