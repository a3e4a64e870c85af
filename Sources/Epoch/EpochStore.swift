import FerryCore
import Foundation
import OCI
import Synchronization

/// An Epoch bucket on any object store, with epoch's semantics: blobs deduplicated in one global
/// namespace, a manifest stored by digest before its tag, the catalog updated last (read-modify-
/// write under the store's lock), tags listed from the objects themselves.
public final class EpochStore: Storage, Inventory {
    public let objects: any ObjectStore
    /// Prepended raw to every key (`EPOCH_S3_PREFIX`, default `epoch/`).
    public let prefix: String

    /// Manifest bytes read by tag, for buckets whose manifests have no by-digest copy (epoch
    /// before v0.1.6 wrote none).
    let manifestsReadByTag = Mutex<[Digest: [UInt8]]>([:])
    /// Objects this store created, with their modification time then, for `abort()`.
    let created = Mutex<[String: Date]>([:])
    /// Tags stored whose catalog entries are not written yet.
    let uncataloged = RecordBatch<(tag: String, key: String, repository: String)>()

    public init(objects: any ObjectStore, prefix: String = "epoch/") {
        self.objects = objects
        self.prefix = prefix.isEmpty ? "epoch/" : prefix
    }

    public var displayName: String { objects.displayName }

    static let defaultTag = "latest"

    func blobKey(_ digest: Digest) -> String { "\(prefix)blobs/\(digest.algorithm.rawValue)/\(digest.encoded)" }

    /// A tag's manifest key without the prefix, as the catalog records it.
    func tagKey(_ tag: String, in repository: String) -> String { "manifests/\(repository)/\(tag).json" }

    func digestKey(_ digest: Digest, in repository: String) -> String {
        "\(prefix)manifests/\(repository)/_digests/\(digest.algorithm.rawValue)-\(digest.encoded).json"
    }

    var catalogKey: String { "\(prefix)catalog.json" }

    func validate(_ repository: String) throws {
        guard Names.isValidRepository(repository) else {
            throw StorageError(.nameInvalid, "\(displayName): '\(repository)' is not a valid repository name")
        }
    }

    func readCatalog() async throws -> Catalog {
        guard let bytes = try await objects.read(catalogKey, limit: 256 << 20) else { return Catalog() }
        return try parseCatalog(bytes)
    }

    /// Parses the catalog's bytes; a corrupt catalog is an error that names it and says why.
    func parseCatalog(_ bytes: [UInt8]) throws -> Catalog {
        do {
            return try Catalog(bytes: bytes)
        } catch let error as ValidationError {
            throw StorageError(.manifestInvalid, "\(displayName): \(catalogKey) is corrupt: \(error.problem)")
        }
    }

    /// Every (repository, tag) the manifest objects hold, from one listing: `manifests/<name>/<tag>.json`,
    /// skipping the by-digest copies (FORMATS.md §1.4).
    func listTags(under repository: String? = nil) async throws -> [(repository: String, tag: String)] {
        let base = "\(prefix)manifests/" + (repository.map { "\($0)/" } ?? "")
        return try await objects.list(prefix: base).compactMap { object in
            guard object.key.hasSuffix(".json") else { return nil }
            let relative = object.key.dropFirst("\(prefix)manifests/".count).dropLast(5)
            guard let slash = relative.lastIndex(of: "/") else { return nil }
            let name = String(relative[..<slash])
            let tag = String(relative[relative.index(after: slash)...])
            guard !tag.isEmpty, !name.split(separator: "/").contains("_digests") else { return nil }
            if let repository, name != repository { return nil }
            return (name, tag)
        }
    }
}
