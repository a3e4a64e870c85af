import FerryCore
import Foundation
import OCI

/// epoch's `catalog.json`: repository → tag → manifest object key (without the prefix).
struct Catalog: Sendable, Equatable {
    struct Repository: Sendable, Equatable {
        var tags: [String: String]
        /// Kept as written: a repository's time changes only when a tag is added.
        var updatedAt: String
    }

    var repositories: [String: Repository] = [:]
    var updatedAt: String = ""

    init() {}

    /// Parses a catalog; unknown keys are ignored, as epoch ignores them.
    init(bytes: [UInt8]) throws {
        struct Document: Decodable {
            struct Repo: Decodable {
                var tags: [String: String]?
                var updatedAt: String?
            }
            var repositories: [String: Repo]?
            var updatedAt: String?
        }
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: Data(bytes))
        } catch {
            throw ValidationError("catalog.json", ValidationError.reason(error))
        }
        repositories = (document.repositories ?? [:]).mapValues { Repository(tags: $0.tags ?? [:], updatedAt: $0.updatedAt ?? "") }
        updatedAt = document.updatedAt ?? ""
    }

    /// The bytes epoch writes: indented, no trailing newline.
    func encoded() -> [UInt8] {
        let repos = repositories.mapValues { repo in
            GoJSON.object([
                ("tags", GoJSON.map(repo.tags.mapValues { .string($0) })),
                ("updatedAt", .string(repo.updatedAt)),
            ])
        }
        let document = GoJSON.object([("repositories", GoJSON.map(repos)), ("updatedAt", .string(updatedAt))])
        return Array(document.indented().utf8)
    }

    /// Adding a tag: set it, stamp the repository and the catalog.
    mutating func add(tag: String, key: String, repository: String, now: Date = Date()) {
        let stamp = GoJSON.timestamp(now)
        repositories[repository, default: Repository(tags: [:], updatedAt: stamp)].tags[tag] = key
        repositories[repository]?.updatedAt = stamp
        updatedAt = stamp
    }

    /// Removing a tag: drop it, and the repository when it has none left; only the catalog's
    /// time changes. Returns false when the repository is absent (nothing to write).
    mutating func remove(tag: String, repository: String, now: Date = Date()) -> Bool {
        guard var repo = repositories[repository] else { return false }
        repo.tags[tag] = nil
        repositories[repository] = repo.tags.isEmpty ? nil : repo
        updatedAt = GoJSON.timestamp(now)
        return true
    }
}
