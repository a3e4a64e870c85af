import FerryCore
import Foundation
import OCI
import SystemPackage
import TarIO

/// One archive being written: a locked temporary file beside the destination and the tar stream
/// into it. The engine calls a sequential sink one operation at a time.
final class ArchiveWriteSession: @unchecked Sendable {
    let destination: FileDestination
    let temp: TempFile
    let tar: TarWriter
    var written = Set<Digest>()
    var index = LayoutIndex()
    /// Whether `index.json` is already in the archive (written up front from a plan).
    var indexWritten = false

    init(destination: FileDestination, temp: TempFile, tar: TarWriter) {
        self.destination = destination
        self.temp = temp
        self.tar = tar
    }

    /// Streams one blob into the archive, verifying it as it goes.
    func add(_ descriptor: Descriptor, from stream: ByteStream) async throws {
        let tar = self.tar
        let name = "blobs/\(descriptor.digest.algorithm.rawValue)/\(descriptor.digest.encoded)"
        try await BlockingIO.run { try tar.beginFile(path: name, size: descriptor.size) }
        for try await chunk in stream.verifying(descriptor) {
            try await BlockingIO.run { try tar.write(chunk) }
        }
        written.insert(descriptor.digest)
        temp.startWriteback()
    }
}

extension LayoutArchiveStore {
    public func willCopy(_ plan: CopyPlan) async throws {
        _ = try await openSession(plan: plan)
    }

    public func pushBlob(_ descriptor: Descriptor, from stream: ByteStream, in repository: String) async throws {
        let session = try await openSession(plan: nil)
        guard !session.written.contains(descriptor.digest) else { return }
        try await session.add(descriptor, from: stream)
    }

    public func pushManifest(_ manifest: Manifest, as target: ManifestTarget, in repository: String) async throws {
        var refName: String?
        if case .root(let tag?) = target { refName = try self.refName(forTag: tag, repository: repository) }
        let session = try await openSession(plan: nil)
        if !session.written.contains(manifest.digest) {
            try await session.add(manifest.descriptor, from: .bytes(manifest.bytes))
        }
        if case .root = target, !session.indexWritten { session.index.record(manifest, refName: refName) }
    }

    /// Writes `index.json`, closes the archive, fsyncs it and renames it into place.
    public func commit() async throws {
        guard let session = session.withLock({ $0 }) else { return }
        defer { session.destination.unlock() }
        try await BlockingIO.run {
            if !session.indexWritten { try session.tar.addFile(path: "index.json", contents: try session.index.encoded()) }
            try session.tar.finish()
            try session.destination.commit(session.temp)
        }
        self.session.withLock { $0 = nil }
        catalog.withLock { $0 = nil }
    }

    /// Drops the temporary archive: the destination stays as it was.
    public func abort() async {
        let session = self.session.withLock { current -> ArchiveWriteSession? in
            defer { current = nil }
            return current
        }
        session?.temp.discard()
        session?.destination.unlock()
    }

    public func deleteTag(_ tag: String, in repository: String) async throws {
        throw StorageError(.unsupported, "\(displayName): an archive is rewritten by copying, not edited in place")
    }

    public func deleteManifest(_ digest: Digest, in repository: String) async throws {
        throw StorageError(.unsupported, "\(displayName): an archive is rewritten by copying, not edited in place")
    }

    public func deleteBlob(_ digest: Digest, in repository: String) async throws {
        throw StorageError(.unsupported, "\(displayName): an archive is rewritten by copying, not edited in place")
    }

    /// Starts the temporary archive on first use: `oci-layout`; with a plan, `index.json` (the
    /// previous archive's entries and the plan's roots) and the plan's manifests; then, when the
    /// destination exists, every blob it holds, streamed across. Every check that can fail (the
    /// ending, the names, what stands at the path) runs first; then the archive's lock is taken,
    /// so that a second writer waits and adds its tags to what the first wrote.
    private func openSession(plan: CopyPlan?) async throws -> ArchiveWriteSession {
        if let existing = session.withLock({ $0 }) { return existing }
        let compression = try naming(displayName) { try TarWriter.Compression(forFileName: self.path.lastComponent?.string ?? "") }
        var names: [String?] = []
        for root in plan?.roots ?? [] { names.append(try root.tag.map { try refName(forTag: $0, repository: root.repository) }) }
        let (path, displayName) = (self.path, self.displayName)
        let destination = try await BlockingIO.run { () -> FileDestination in
            let destination = try FileDestination(path: path, displayName: displayName)
            try destination.lock()
            return destination
        }
        do {
            // Under the lock: what the archive holds now, not what an earlier look saw.
            catalog.withLock { $0 = nil }
            head.withLock { $0 = nil }
            let previous = destination.directory.exists(destination.name) ? try await readCatalog() : nil
            var index = previous?.index ?? LayoutIndex()
            for (root, name) in zip(plan?.roots ?? [], names) { index.record(root.manifest, refName: name) }
            let opened = try await BlockingIO.run { [index] () -> ArchiveWriteSession in
                let temp = try destination.makeTemporary()
                do {
                    let tar = try TarWriter(fd: temp.rawDescriptor, compression: compression, name: displayName)
                    try tar.addFile(path: "oci-layout", contents: LayoutStore.layoutFileContent)
                    let session = ArchiveWriteSession(destination: destination, temp: temp, tar: tar)
                    session.index = index
                    if plan != nil {
                        try tar.addFile(path: "index.json", contents: try index.encoded())
                        session.indexWritten = true
                    }
                    return session
                } catch {
                    temp.discard()
                    throw error
                }
            }
            session.withLock { $0 = opened }
            // Manifests first: a streaming reader then knows the graph before the layers arrive.
            for push in plan?.manifests ?? [] where !opened.written.contains(push.manifest.digest) {
                try await opened.add(push.manifest.descriptor, from: .bytes(push.manifest.bytes))
            }
            if previous != nil {
                do {
                    try await streamAllBlobs(skipping: opened.written) { descriptor, stream in try await opened.add(descriptor, from: stream) }
                } catch let error as StorageError where error.code == .digestInvalid || error.code == .sizeInvalid {
                    throw StorageError(error.code, "\(displayName): blob \(error.message)")
                }
            }
            return opened
        } catch {
            if session.withLock({ $0 }) == nil { destination.unlock() }
            throw error
        }
    }
}
