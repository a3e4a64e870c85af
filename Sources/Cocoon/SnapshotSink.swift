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

/// The write side that both cocoon destinations share: it takes the artifact from the copy plan,
/// accepts blobs in whatever order they come (a one-pass source sends them in its own order, and
/// two files with the same bytes arrive as one blob), and hands the materializer the config and
/// then each file in layer order, keeping early or repeated blobs in a spool directory meanwhile.
final class SnapshotSink: Sendable {
    private let displayName: String
    private let spoolDirectory: FilePath
    private let materializer: any SnapshotMaterializer

    private struct State {
        var root: Manifest?
        /// The config, then the layers: what the materializer is handed, in order.
        var sequence: [Descriptor] = []
        var parts: SnapshotArtifact.Parts?
        var next = 0
        var spooled: [Digest: FilePath] = [:]
        var began = false
    }
    private let state = Mutex(State())
    /// Serializes materializing: blobs may be pushed from several tasks.
    private let turn = AsyncLock()

    init(displayName: String, spoolDirectory: FilePath, materializer: any SnapshotMaterializer) {
        self.displayName = displayName
        self.spoolDirectory = spoolDirectory
        self.materializer = materializer
    }

    /// Takes the one snapshot artifact of the plan.
    func willCopy(_ plan: CopyPlan) throws {
        guard plan.roots.count == 1, let root = plan.roots.first?.manifest else {
            throw StorageError(.unsupported, "\(displayName): holds one snapshot; copy one artifact at a time (this copy has \(plan.roots.count))")
        }
        guard case .image(let image) = root.content, root.kind == .snapshot else {
            throw StorageError(.unsupported, "\(displayName): \(root.digest) is a \(root.kind.rawValue), not a cocoon snapshot")
        }
        state.withLock {
            $0.root = root
            $0.sequence = [image.config] + image.layers
        }
    }

    func pushBlob(_ descriptor: Descriptor, from stream: ByteStream) async throws {
        let verified = stream.verifying(descriptor)
        try await turn.run {
            let (wanted, isNext, later) = state.withLock { s -> (Bool, Bool, Bool) in
                let positions = s.sequence.indices.filter { $0 >= s.next && s.sequence[$0].digest == descriptor.digest }
                return (!positions.isEmpty, positions.first == s.next, positions.count > 1)
            }
            guard wanted else {
                // Not part of the snapshot (a blob of another artifact): read and drop it.
                for try await _ in verified {}
                return
            }
            if isNext && !later {
                try await emit(from: verified)
            } else {
                try await spool(descriptor, from: verified)
            }
            try await drainSpool()
        }
    }

    /// The manifest arrives after its blobs: everything must have been handed over by now.
    func pushManifest(_ manifest: Manifest) throws {
        try state.withLock { s in
            guard manifest.digest == s.root?.digest else {
                throw StorageError(.unsupported, "\(displayName): holds one snapshot, not also \(manifest.digest)")
            }
            guard s.next == s.sequence.count else {
                throw StorageError(.blobUnknown, "\(displayName): \(s.sequence[s.next].digest) never arrived")
            }
        }
    }

    func commit() async throws {
        let complete = state.withLock { $0.began && $0.next == $0.sequence.count }
        guard complete else { throw StorageError(.blobUnknown, "\(displayName): the snapshot is incomplete") }
        try await materializer.finish()
        removeSpool()
    }

    func abort() async {
        await materializer.discard()
        removeSpool()
    }

    // MARK: order

    /// Hands the next item of the sequence over from `stream`.
    private func emit(from stream: ByteStream) async throws {
        let (index, descriptor, parts) = state.withLock { ($0.next, $0.sequence[$0.next], $0.parts) }
        if index == 0 {
            let bytes = try await stream.collect(upTo: 16 << 20, what: "\(displayName): snapshot config")
            guard let root = state.withLock({ $0.root }) else { return }
            let parts = try SnapshotArtifact.parts(of: root, configBytes: bytes, what: displayName)
            try await materializer.begin(parts)
            state.withLock {
                $0.parts = parts
                $0.began = true
            }
        } else {
            guard let parts else { throw StorageError(.unknown, "\(displayName): a layer came before the config") }
            let file = parts.files[index - 1].file
            guard descriptor.size == file.storedSize else {
                throw StorageError(.sizeInvalid, "\(displayName): \(file.name): layer of \(descriptor.size) bytes, config says \(file.storedSize)")
            }
            try await materializer.write(file, from: stream)
        }
        state.withLock { $0.next += 1 }
    }

    /// Keeps a blob that is early or needed more than once.
    private func spool(_ descriptor: Descriptor, from stream: ByteStream) async throws {
        try FileManager.default.createDirectory(atPath: spoolDirectory.string, withIntermediateDirectories: true)
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

    /// Hands over every next item that is waiting in the spool.
    private func drainSpool() async throws {
        while true {
            let ready = state.withLock { s -> (FilePath, Descriptor, Bool)? in
                guard s.next < s.sequence.count, let path = s.spooled[s.sequence[s.next].digest] else { return nil }
                let digest = s.sequence[s.next].digest
                let laterUse = s.sequence[(s.next + 1)...].contains { $0.digest == digest }
                return (path, s.sequence[s.next], laterUse)
            }
            guard let (path, descriptor, keep) = ready else { return }
            try await emit(from: try ByteStream.file(at: path).verifying(descriptor))
            if !keep {
                unlink(path.string)
                state.withLock { _ = $0.spooled.removeValue(forKey: descriptor.digest) }
            }
        }
    }

    private func removeSpool() {
        try? FileManager.default.removeItem(atPath: spoolDirectory.string)
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
