import FerryCore
import Foundation
import OCI
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

extension LayoutStore {
    public func pushBlob(_ descriptor: Descriptor, from stream: ByteStream, in repository: String) async throws {
        try await prepareForWriting()
        let final = blobPath(descriptor.digest)
        if FileSystem.regularFileSize(final) != nil { return }
        let root = self.root
        let temp = try await BlockingIO.run {
            try FileSystem.makeDirectory(final.removingLastComponent())
            return try TempFile(beside: final, lockRoot: root)
        }
        do {
            var verifier = BlobVerifier(expecting: descriptor)
            for try await chunk in stream {
                try await verifier.update(chunk) { try temp.write($0) }
            }
            try verifier.finish()
            try await BlockingIO.run { try temp.commit(to: final) }
            writeState.withLock { $0.written.append(descriptor.digest) }
        } catch {
            temp.discard()
            throw error
        }
    }

    public func pushManifest(_ manifest: Manifest, as target: ManifestTarget, in repository: String) async throws {
        var refName: String?
        if case .root(let tag?) = target { refName = try self.refName(forTag: tag, repository: repository) }
        try await pushBlob(manifest.descriptor, from: .bytes(manifest.bytes), in: repository)
        guard case .root = target else { return }
        // Blobs renamed into place must be durable before index.json names them.
        let blobDirectory = blobPath(manifest.digest).removingLastComponent()
        try await BlockingIO.run { try FileSystem.syncDirectory(blobDirectory) }
        try await rewriteIndex { [refName] index in index.record(manifest, refName: refName) }
    }

    /// After a failed copy: removes the layout if this store created it; otherwise removes the
    /// blobs this store wrote that nothing in `index.json` reaches, so the layout is as it was.
    public func abort() async {
        let (created, written) = writeState.withLock { ($0.createdRoot, $0.written) }
        guard created || !written.isEmpty else { return }
        try? await BlockingIO.run {
            try FileSystem.withLock(on: self.root) {
                // A layout this store created goes, unless a concurrent writer has tagged into it.
                if created, (try? self.readIndex().manifests.isEmpty) ?? true {
                    try? FileManager.default.removeItem(atPath: self.root.string)
                    return
                }
                let reachable = try self.reachableDigests()
                for digest in written where !reachable.contains(digest) {
                    unlink(self.blobPath(digest).string)
                }
            }
        }
    }

    /// Before the first write: create the directory if needed, make sure it is a layout (or
    /// empty), write `oci-layout` and an empty `index.json` when missing, and sweep the
    /// temporary files of killed writers. Runs once per store.
    func prepareForWriting() async throws {
        let task = writeState.withLock { state in
            if let task = state.preparation { return task }
            let task = Task { try await BlockingIO.run { try self.prepareNow() } }
            state.preparation = task
            return task
        }
        try await task.value
    }

    private func prepareNow() throws {
        let parent = root.removingLastComponent()
        guard parent.isEmpty || FileSystem.isDirectory(parent) else {
            throw StorageError(.nameUnknown, "\(displayName): parent directory \(parent) does not exist")
        }
        if FileSystem.exists(root), !FileSystem.isDirectory(root) {
            throw StorageError(.nameInvalid, "\(displayName): exists and is not a directory")
        }
        let created = try FileSystem.makeDirectory(root)
        writeState.withLock { $0.createdRoot = created }
        try FileSystem.withLock(on: root) {
            // Under the lock: another writer may be creating this layout right now.
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: root.string)) ?? []
            if !FileSystem.exists(layoutFilePath), !entries.allSatisfy(TempFile.isTemporaryName) {
                throw StorageError(.nameInvalid, "\(displayName): exists, is not empty and is not an OCI layout (no oci-layout file)")
            }
            if FileSystem.exists(layoutFilePath) {
                try checkLayoutVersion()
            } else {
                try FileSystem.writeAtomically(Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8), to: layoutFilePath)
            }
            try FileSystem.makeDirectory(blobsPath)
            try FileSystem.makeDirectory(blobsPath.appending(Digest.Algorithm.sha256.rawValue))
            if !FileSystem.exists(indexPath) {
                try FileSystem.writeAtomically(try LayoutIndex().encoded(), to: indexPath)
            } else {
                _ = try readIndex()
            }
        }
        let blobDirectories = Digest.Algorithm.allCases.map { blobsPath.appending($0.rawValue) }
        try FileSystem.sweepTemporaryFiles(in: [root] + blobDirectories, lockRoot: root)
    }

    private func checkLayoutVersion() throws {
        struct LayoutFile: Decodable { var imageLayoutVersion: String }
        let bytes = try FileSystem.readFile(layoutFilePath, limit: 1 << 16)
        guard let file = try? JSONDecoder().decode(LayoutFile.self, from: Data(bytes)) else {
            throw StorageError(.nameInvalid, "\(displayName): oci-layout is not valid JSON")
        }
        guard file.imageLayoutVersion.hasPrefix("1.") else {
            throw StorageError(.unsupported, "\(displayName): image layout version \(file.imageLayoutVersion) is not supported (1.x is)")
        }
    }
}
