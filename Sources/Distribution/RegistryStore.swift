import FerryCore
import Foundation
import HTTPSupport
import OCI
import Synchronization

/// `docker://HOST[/PREFIX]`: a registry of the OCI distribution spec (and the Docker registry API
/// it grew from) as a storage backend. Reading, writing, listing and deleting live in their own
/// files; the request layer (auth, retries, redirects) in `RegistryTransport`.
public final class RegistryStore: Storage, Sendable {
    public let displayName: String
    /// The registry as the user named it.
    public let host: String
    /// Repositories of this location live under this prefix (`docker://HOST/PREFIX`); a layout's
    /// unnamed tags go to the prefix itself.
    public let prefix: String
    let transport: RegistryTransport
    /// Blobs of at most this size go up in one request; larger ones in chunks.
    public let monolithicLimit: Int64
    /// The largest request body (`--max-chunk`); nil for one PATCH per blob.
    public let maxChunk: Int64?
    /// Unfinished uploads, remembered across runs.
    let journal: UploadJournal
    /// Entries asked for per listing page (`?n=`).
    public let pageSize: Int
    /// Manifest bytes read while resolving, so that the fetch that follows sends no request.
    let manifestsRead = Mutex<[Digest: [UInt8]]>([:])

    /// A store for `host`. `credentials` are asked for this host's credential; `trust` says which
    /// certificates are accepted (the per-registry CA directories are added to it).
    public init(host: String, prefix: String = "", credentials: CredentialSource = CredentialSource(), trust: Trust = Trust(),
                retryTimes: Int = 3, monolithicLimit: Int64 = 8 << 20, maxChunk: Int64? = nil, pageSize: Int = 1000) throws {
        self.host = host
        self.prefix = prefix
        let name = "docker://\(host)\(prefix.isEmpty ? "" : "/" + prefix)"
        displayName = name
        var trust = trust
        trust.caFiles += Self.certificateDirectories(for: host)
        let credential = try naming(name) { try credentials.credential(for: host) }
        transport = try RegistryTransport.shared(host: host, credential: credential, trust: trust, retryTimes: retryTimes)
        self.monolithicLimit = monolithicLimit
        self.maxChunk = maxChunk
        self.pageSize = max(1, pageSize)
        journal = UploadJournal(environment: credentials.environment)
    }

    /// The CA files users already keep per registry: `/etc/containers/certs.d/HOST[:PORT]/*.crt`
    /// and `/etc/docker/certs.d/HOST[:PORT]/*.crt`.
    static func certificateDirectories(for host: String, roots: [String] = ["/etc/containers/certs.d", "/etc/docker/certs.d"]) -> [Trust.CAFile] {
        roots.flatMap { root -> [Trust.CAFile] in
            let directory = "\(root)/\(host)"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            return names.filter { $0.hasSuffix(".crt") }.sorted().map { Trust.CAFile(path: "\(directory)/\($0)", source: "\(directory)/\($0)") }
        }
    }

    /// The registry's name for `repository`: under the prefix; the empty name is the prefix.
    func name(_ repository: String) throws -> String {
        let full = prefix.isEmpty ? repository : (repository.isEmpty ? prefix : "\(prefix)/\(repository)")
        guard !full.isEmpty else {
            throw StorageError(.nameInvalid, "\(displayName): a registry needs a repository name (docker://\(host)/NAME)")
        }
        guard Names.isValidRepository(full) else { throw StorageError(.nameInvalid, "\(displayName): '\(full)' is not a valid repository name") }
        return full
    }

    /// How messages name a repository, or a manifest in it: `docker://HOST/NAME[:TAG|@DIGEST]`.
    func at(_ name: String, _ reference: String? = nil) -> String {
        guard let reference else { return "docker://\(host)/\(name)" }
        return "docker://\(host)/\(name)\(reference.contains(":") ? "@" : ":")\(reference)"
    }

    /// The path of `/v2/NAME/KIND/REFERENCE`, escaped.
    func path(_ name: String, _ kind: String, _ reference: String = "") -> String {
        let escaped = reference.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? reference
        return "/v2/\(name)/\(kind)/\(escaped)"
    }
}
