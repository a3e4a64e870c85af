import FerryCore
import Foundation
import OCI
import SystemPackage

extension LayoutStore {
    public func resolve(_ selector: ManifestSelector?, in repository: String) async throws -> Descriptor {
        try await BlockingIO.run { try self.resolveNow(selector, in: repository) }
    }

    private func resolveNow(_ selector: ManifestSelector?, in repository: String) throws -> Descriptor {
        let directory = try directory()
        return try readIndex().resolve(selector, in: repository, displayName: displayName, strict: refNameStyle == .named) { digest in
            guard let size = directory.regularFileSize(Self.blobName(digest)), size <= Int64(Manifest.maximumSize) else { return nil }
            let bytes = try directory.readFile(Self.blobName(digest), limit: Manifest.maximumSize)
            guard let manifest = try? Manifest(bytes: bytes, digestAlgorithm: digest.algorithm) else {
                throw StorageError(.manifestUnknown, "\(displayName): \(digest) is not a manifest")
            }
            return Descriptor(mediaType: manifest.mediaType, digest: digest, size: size)
        }
    }

    public func fetch(_ descriptor: Descriptor, in repository: String) async throws -> ByteStream {
        let directory = try directory()
        let name = Self.blobName(descriptor.digest)
        guard directory.regularFileSize(name) != nil else {
            throw StorageError(descriptor.isManifest ? .manifestUnknown : .blobUnknown, "\(displayName): \(descriptor.digest) is missing")
        }
        let (fd, _) = try directory.openForReading(name)
        return try ByteStream.file(fd, path: directory.path(of: name))
    }

    public func fetch(_ descriptor: Descriptor, range: Range<Int64>, in repository: String) async throws -> ByteStream {
        let directory = try directory()
        let name = Self.blobName(descriptor.digest)
        guard directory.regularFileSize(name) != nil else {
            throw StorageError(descriptor.isManifest ? .manifestUnknown : .blobUnknown, "\(displayName): \(descriptor.digest) is missing")
        }
        let (fd, _) = try directory.openForReading(name)
        return try ByteStream.file(fd, path: directory.path(of: name), offset: range.lowerBound, length: Int64(range.count))
    }

    public func blobExists(_ digest: Digest, in repository: String) async throws -> Bool {
        hasBlob(digest)
    }

    public func blobSize(_ digest: Digest, in repository: String) async throws -> Int64? {
        guard FileSystem.isDirectory(root) else { return nil }
        return try directory().regularFileSize(Self.blobName(digest))
    }

    public func manifestExists(_ digest: Digest, in repository: String) async throws -> Bool {
        hasBlob(digest)
    }

    /// Whether the blob file is there (a regular file: a symlink or FIFO in its place is not).
    func hasBlob(_ digest: Digest) -> Bool {
        guard FileSystem.isDirectory(root), let directory = try? directory() else { return false }
        return directory.regularFileSize(Self.blobName(digest)) != nil
    }

    public func repositories() async throws -> [String] {
        try await BlockingIO.run { try self.readIndex().repositories }
    }

    public func tags(in repository: String) async throws -> [String] {
        try await BlockingIO.run { try self.readIndex().tags(in: repository) }
    }

    public func roots() async throws -> [(name: String, repository: String, descriptor: Descriptor)] {
        try await BlockingIO.run { try self.readIndex().roots }
    }

    public func storedBlobs() async throws -> [(digest: Digest, size: Int64)] {
        try await storedBlobStatus().map { ($0.digest, $0.status.size) }
    }

    /// Every regular blob file with its status.
    func storedBlobStatus() async throws -> [(digest: Digest, status: ContainedDirectory.Status)] {
        try await BlockingIO.run {
            let directory = try self.directory()
            var result: [(digest: Digest, status: ContainedDirectory.Status)] = []
            for algorithm in Digest.Algorithm.allCases {
                let folder = "blobs/\(algorithm.rawValue)"
                guard directory.status(folder)?.isDirectory == true else { continue }
                for name in try directory.entries(folder) {
                    guard !TempFile.isTemporaryName(name), let digest = try? Digest(algorithm: algorithm, encoded: name),
                        let status = directory.status("\(folder)/\(name)"), status.isRegularFile
                    else { continue }
                    result.append((digest, status))
                }
            }
            return result.sorted { $0.digest.description < $1.digest.description }
        }
    }
}
