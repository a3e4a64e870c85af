import FerryCore
import Foundation
import OCI
import SystemPackage

extension LayoutStore {
    public func resolve(_ selector: ManifestSelector?, in repository: String) async throws -> Descriptor {
        try await BlockingIO.run { try self.resolveNow(selector, in: repository) }
    }

    private func resolveNow(_ selector: ManifestSelector?, in repository: String) throws -> Descriptor {
        try readIndex().resolve(selector, in: repository, displayName: displayName) { digest in
            guard let size = FileSystem.regularFileSize(blobPath(digest)), size <= Int64(Manifest.maximumSize) else { return nil }
            let bytes = try FileSystem.readFile(blobPath(digest), limit: Manifest.maximumSize)
            guard let manifest = try? Manifest(bytes: bytes, digestAlgorithm: digest.algorithm) else {
                throw StorageError(.manifestUnknown, "\(displayName): \(digest) is not a manifest")
            }
            return Descriptor(mediaType: manifest.mediaType, digest: digest, size: size)
        }
    }

    public func fetch(_ descriptor: Descriptor, in repository: String) async throws -> ByteStream {
        let path = blobPath(descriptor.digest)
        guard FileSystem.regularFileSize(path) != nil else {
            throw StorageError(descriptor.isManifest ? .manifestUnknown : .blobUnknown, "\(displayName): \(descriptor.digest) is missing")
        }
        return try ByteStream.file(at: path)
    }

    public func blobExists(_ digest: Digest, in repository: String) async throws -> Bool {
        FileSystem.regularFileSize(blobPath(digest)) != nil
    }

    public func manifestExists(_ digest: Digest, in repository: String) async throws -> Bool {
        FileSystem.regularFileSize(blobPath(digest)) != nil
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
        try await BlockingIO.run {
            var result: [(digest: Digest, size: Int64)] = []
            for algorithm in Digest.Algorithm.allCases {
                let directory = self.blobsPath.appending(algorithm.rawValue)
                for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.string)) ?? [] {
                    guard !TempFile.isTemporaryName(name), let digest = try? Digest(algorithm: algorithm, encoded: name),
                        let size = FileSystem.regularFileSize(directory.appending(name))
                    else { continue }
                    result.append((digest, size))
                }
            }
            return result
        }
    }

    /// Every digest that `index.json` reaches: its manifests, their children, configs and layers.
    /// Manifests that are missing or unreadable end the walk along their branch.
    func reachableDigests() throws -> Set<Digest> {
        var reached = Set<Digest>()
        var pending = try readIndex().manifests
        while let descriptor = pending.popLast() {
            guard reached.insert(descriptor.digest).inserted, descriptor.size <= Int64(Manifest.maximumSize),
                let bytes = try? FileSystem.readFile(blobPath(descriptor.digest), limit: Manifest.maximumSize),
                let manifest = try? Manifest(bytes: bytes, declaredType: descriptor.mediaType, digestAlgorithm: descriptor.digest.algorithm)
            else { continue }
            pending += manifest.manifests
            for blob in manifest.blobs { reached.insert(blob.digest) }
        }
        return reached
    }
}
