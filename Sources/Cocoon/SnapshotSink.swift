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
    private let spool: Spool
    /// What is handed over, in order.
    let sequence: [Descriptor]
    private let deliver: @Sendable (Int, ByteStream) async throws -> Void
    private let state = Mutex<(next: Int, spooled: [Digest: String])>((0, [:]))
    /// Serializes delivery: blobs may be pushed from several tasks.
    private let turn = AsyncLock()

    init(sequence: [Descriptor], displayName: String, spool: Spool, deliver: @escaping @Sendable (Int, ByteStream) async throws -> Void) {
        self.sequence = sequence
        self.displayName = displayName
        self.spool = spool
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
        let name = descriptor.digest.encoded
        let fd = try spool.create(name, what: displayName)
        defer { try? fd.close() }
        for try await chunk in stream {
            try await BlockingIO.run {
                do {
                    _ = try fd.writeAll(chunk)
                } catch let errno as Errno {
                    throw StorageError(.unknown, "\(self.displayName): cannot spool \(name): \(errno)")
                }
            }
        }
        state.withLock { $0.spooled[descriptor.digest] = name }
    }

    private func drainSpool() async throws {
        while true {
            let ready = state.withLock { s -> (String, Descriptor, Bool)? in
                guard s.next < sequence.count, let path = s.spooled[sequence[s.next].digest] else { return nil }
                let digest = sequence[s.next].digest
                return (path, sequence[s.next], sequence[(s.next + 1)...].contains { $0.digest == digest })
            }
            guard let (name, descriptor, keep) = ready else { return }
            try await handOver(try spool.read(name).verifying(descriptor))
            if !keep {
                spool.remove(name)
                state.withLock { _ = $0.spooled.removeValue(forKey: descriptor.digest) }
            }
        }
    }

    /// Removes the spool.
    func cleanUp() { spool.removeAll() }
}

/// A directory of early blobs (`.ferry-spool-<random>.tmp`) inside a destination's contained
/// directory, made on first use, locked while this process lives (so that the next writer's sweep
/// removes it after a kill) and removed whole at the end.
final class Spool: Sendable {
    private let parent: ContainedDirectory
    private let directory = Mutex<ContainedDirectory?>(nil)

    init(in parent: ContainedDirectory) {
        self.parent = parent
    }

    /// Creates the file `file` in the spool, made on first use.
    func create(_ file: String, what: String) throws -> FileDescriptor {
        let folder = try directory.withLock { current -> ContainedDirectory in
            if let current { return current }
            let made: ContainedDirectory
            do {
                made = try parent.makeTemporaryDirectory(label: "spool")
            } catch let error as StorageError {
                throw StorageError(error.code, "\(what): cannot make a spool: \(error.message)")
            }
            current = made
            return made
        }
        _ = try? folder.removeFile(file)
        return try folder.open(file, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
    }

    func read(_ file: String) throws -> ByteStream {
        guard let folder = directory.withLock({ $0 }) else { throw StorageError(.unknown, "\(parent.path): no spool") }
        let (fd, _) = try folder.openForReading(file)
        return try ByteStream.file(fd, path: folder.path(of: file))
    }

    func remove(_ file: String) {
        _ = try? directory.withLock({ $0 })?.removeFile(file)
    }

    func removeAll() {
        guard let folder = directory.withLock({ current in defer { current = nil }; return current }),
            let name = folder.path.lastComponent?.string
        else { return }
        try? parent.removeTree(name)
    }
}

/// The write side that both cocoon destinations share: it takes the artifact from the copy plan
/// and hands the materializer the config and then each file in layer order.
final class SnapshotSink: Sendable {
    private let displayName: String
    private let spool: Spool
    private let materializer: any SnapshotMaterializer
    private let root = Mutex<Manifest?>(nil)
    private let delivery = Mutex<OrderedDelivery?>(nil)
    private let parts = Mutex<SnapshotArtifact.Parts?>(nil)

    init(displayName: String, spool: Spool, materializer: any SnapshotMaterializer) {
        self.displayName = displayName
        self.spool = spool
        self.materializer = materializer
    }

    /// Takes the snapshot artifact to write.
    func willCopy(_ manifest: Manifest) throws {
        guard case .image(let image) = manifest.content, manifest.kind == .snapshot else {
            throw StorageError(.unsupported, "\(displayName): \(manifest.digest) is a \(manifest.kind.rawValue), not a cocoon snapshot")
        }
        root.withLock { $0 = manifest }
        let ordered = OrderedDelivery(sequence: [image.config] + image.layers, displayName: displayName, spool: spool) {
            [weak self] index, stream in
            try await self?.deliver(index, stream)
        }
        delivery.withLock { $0 = ordered }
    }

    private func deliver(_ index: Int, _ stream: ByteStream) async throws {
        if index == 0 {
            let bytes = try await stream.collect(upTo: SnapshotArtifact.configLimit, what: "\(displayName): snapshot config")
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
