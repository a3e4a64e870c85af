import FerryCore
import Foundation
import OCI
import SystemPackage
import TarIO

/// One archive being written: a locked temporary file beside the destination and the tar stream
/// into it. The engine calls a sequential sink one operation at a time.
final class ArchiveWriteSession: @unchecked Sendable {
    let temp: TempFile
    let tar: TarWriter
    var written = Set<Digest>()
    var index = LayoutIndex()
    /// Whether `index.json` is already in the archive (written up front from a plan).
    var indexWritten = false

    init(temp: TempFile, tar: TarWriter) {
        self.temp = temp
        self.tar = tar
    }

    /// Streams one blob into the archive, verifying it as it goes.
    func add(_ descriptor: Descriptor, from stream: ByteStream) async throws {
        let tar = self.tar
        let name = "blobs/\(descriptor.digest.algorithm.rawValue)/\(descriptor.digest.encoded)"
        try await BlockingIO.run { try tar.beginFile(path: name, size: descriptor.size) }
        var verifier = BlobVerifier(expecting: descriptor)
        for try await chunk in stream {
            try await verifier.update(chunk) { try tar.write($0) }
        }
        try verifier.finish()
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
        let path = self.path
        try await BlockingIO.run {
            if !session.indexWritten { try session.tar.addFile(path: "index.json", contents: try session.index.encoded()) }
            try session.tar.finish()
            try session.temp.commit(to: path)
            try FileSystem.syncDirectory(path.removingLastComponent().isEmpty ? "." : path.removingLastComponent())
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
    /// destination exists, every blob it holds, streamed across.
    private func openSession(plan: CopyPlan?) async throws -> ArchiveWriteSession {
        if let existing = session.withLock({ $0 }) { return existing }
        let directory = path.removingLastComponent().isEmpty ? FilePath(".") : path.removingLastComponent()
        guard FileSystem.isDirectory(directory) else {
            throw StorageError(.nameUnknown, "\(displayName): directory \(directory) does not exist")
        }
        let previous = FileSystem.exists(path) ? try await readCatalog() : nil
        var index = previous?.index ?? LayoutIndex()
        for root in plan?.roots ?? [] {
            index.record(root.manifest, refName: try root.tag.map { try refName(forTag: $0, repository: root.repository) })
        }
        let path = self.path
        let displayName = self.displayName
        let opened = try await BlockingIO.run { [index] () -> ArchiveWriteSession in
            try FileSystem.sweepTemporaryFiles(in: [directory], lockRoot: directory)
            let temp = try TempFile(beside: path, lockRoot: directory)
            do {
                let tar = try TarWriter(fd: temp.rawDescriptor, compression: .init(forFileName: path.lastComponent?.string ?? ""), name: displayName)
                try tar.addFile(path: "oci-layout", contents: Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
                let session = ArchiveWriteSession(temp: temp, tar: tar)
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
    }
}
