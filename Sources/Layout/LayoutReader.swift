import FerryCore
import Foundation
import OCI
import SystemPackage

extension LayoutStore {
    public func resolve(_ selector: ManifestSelector?, in repository: String) async throws -> Descriptor {
        try await BlockingIO.run { try self.resolveNow(selector, in: repository) }
    }

    private func resolveNow(_ selector: ManifestSelector?, in repository: String) throws -> Descriptor {
        let index = try readIndex()
        switch selector {
        case .digest(let digest):
            if let entry = index.manifests.first(where: { $0.digest == digest }) { return entry }
            guard let size = FileSystem.regularFileSize(blobPath(digest)), size <= Int64(Manifest.maximumSize) else {
                throw StorageError(.manifestUnknown, "\(displayName): no manifest \(digest)")
            }
            let bytes = try FileSystem.readFile(blobPath(digest), limit: Manifest.maximumSize)
            guard let manifest = try? Manifest(bytes: bytes, digestAlgorithm: digest.algorithm) else {
                throw StorageError(.manifestUnknown, "\(displayName): \(digest) is not a manifest")
            }
            return Descriptor(mediaType: manifest.mediaType, digest: digest, size: size)
        case .tag(let tag):
            let matches = index.entries(matching: tag, repository: repository)
            guard matches.count <= 1 else {
                let list = matches.map { "\(LayoutIndex.names(of: $0).first ?? "?") (\($0.digest))" }.joined(separator: ", ")
                throw StorageError(.manifestUnknown, "\(displayName): tag '\(tag)' matches \(matches.count) manifests: \(list); write the full name")
            }
            guard let match = matches.first else {
                throw StorageError(.manifestUnknown, "\(displayName): no manifest tagged '\(tag)' (\(choices(index)))")
            }
            return match
        case nil:
            guard index.manifests.count == 1, let only = index.manifests.first else {
                throw StorageError(.manifestUnknown, "\(displayName): \(choices(index)); name one as oci:DIR:TAG or oci:DIR@DIGEST")
            }
            return only
        }
    }

    private func choices(_ index: LayoutIndex) -> String {
        guard !index.manifests.isEmpty else { return "the layout holds no manifests" }
        let names = index.manifests.map { LayoutIndex.names(of: $0).first ?? "@\($0.digest)" }
        return "the layout holds \(names.count) manifest\(names.count == 1 ? "" : "s"): \(names.joined(separator: ", "))"
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
        let index = try await BlockingIO.run { try self.readIndex() }
        var names = Set<String>()
        for entry in index.manifests {
            names.insert(entry.refName.flatMap { Names.splitTag($0)?.repository } ?? "")
        }
        return names.sorted()
    }

    public func tags(in repository: String) async throws -> [String] {
        let index = try await BlockingIO.run { try self.readIndex() }
        return index.manifests.compactMap { entry -> String? in
            guard let name = entry.refName else { return nil }
            guard let split = Names.splitTag(name) else { return repository.isEmpty ? name : nil }
            return split.repository == repository ? split.tag : nil
        }
    }

    public func roots() async throws -> [(name: String, repository: String, descriptor: Descriptor)] {
        let index = try await BlockingIO.run { try self.readIndex() }
        return index.manifests.map { entry in
            let name = entry.refName ?? "@\(entry.digest)"
            return (name, entry.refName.flatMap { Names.splitTag($0)?.repository } ?? "", entry)
        }
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
