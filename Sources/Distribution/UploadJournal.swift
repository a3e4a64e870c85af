import Crypto
import FerryCore
import Foundation

/// Where unfinished blob uploads are remembered between runs, so that a push interrupted by a
/// crash, a kill or a network failure continues each blob from the offset the registry holds:
/// one small file per registry, repository and digest under `$XDG_CACHE_HOME/ferry/uploads`
/// (default `~/.cache/ferry/uploads`), written atomically, readable by its owner only, removed
/// when the blob is complete or the registry no longer knows the session.
struct UploadJournal: Sendable {
    let directory: String

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let cache = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(environment["HOME"] ?? NSHomeDirectory())/.cache"
        directory = "\(cache)/ferry/uploads"
    }

    struct Entry: Codable, Equatable {
        var host: String
        var repository: String
        var digest: String
        /// The upload URL the registry gave last, after the last complete request.
        var location: String
        /// The registry's `OCI-Chunk-Min-Length` for the session, if it named one.
        var minimumChunk: Int64?
    }

    private func file(host: String, repository: String, digest: String) -> String {
        let key = SHA256.hash(data: Data("\(host)/\(repository)@\(digest)".utf8)).map { String(format: "%02x", $0) }.joined()
        return "\(directory)/\(key).json"
    }

    /// The session remembered for this blob, if any (and if the entry is really for it).
    func entry(host: String, repository: String, digest: String) -> Entry? {
        guard let data = FileManager.default.contents(atPath: file(host: host, repository: repository, digest: digest)),
              let entry = try? JSONDecoder().decode(Entry.self, from: data),
              entry.host == host, entry.repository == repository, entry.digest == digest
        else { return nil }
        return entry
    }

    /// Remembers `location`; a journal that cannot be written costs only the resumption.
    func remember(_ location: String, minimumChunk: Int64?, host: String, repository: String, digest: String) {
        let path = file(host: host, repository: repository, digest: digest)
        guard (try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])) != nil,
              let data = try? JSONEncoder().encode(Entry(host: host, repository: repository, digest: digest, location: location, minimumChunk: minimumChunk))
        else { return }
        let temporary = "\(path).\(getpid()).tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600]) else { return }
        if rename(temporary, path) != 0 { unlink(temporary) }
    }

    func forget(host: String, repository: String, digest: String) {
        unlink(file(host: host, repository: repository, digest: digest))
    }
}
