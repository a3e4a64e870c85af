import AsyncHTTPClient
import FerryCore
import NIOSSL
import Synchronization

/// What a connection trusts: the system's CAs plus extra CA files, or nothing checked.
public struct Trust: Hashable, Sendable {
    /// PEM files of extra CAs, each named in messages by `source` (e.g. `EPOCH_CA_CERT=/path`).
    public var caFiles: [CAFile]
    /// False with `--tls-verify=false`.
    public var verifies: Bool

    public struct CAFile: Hashable, Sendable {
        public var path: String
        /// How the file is named in messages: the setting it came from.
        public var source: String
        public init(path: String, source: String) {
            self.path = path
            self.source = source
        }
    }

    public init(caFiles: [CAFile] = [], verifies: Bool = true) {
        self.caFiles = caFiles
        self.verifies = verifies
    }
}

/// The HTTP clients S3 stores and registry clients share: one per trust setting, alive for the
/// whole process (like `HTTPClient.shared`), so connections are pooled across stores and no client
/// is torn down while a request of another store still uses it. A connection that cannot be made
/// fails its request at once: callers retry with their own backoff, and give up at once on what
/// no retry mends (an untrusted certificate). Redirects are not followed: a caller decides what
/// travels to the next host.
public enum HTTPClients {
    private static let clients = Mutex<[Trust: HTTPClient]>([:])

    /// The client for `trust`: one per distinct setting.
    public static func client(for trust: Trust) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        if !trust.verifies {
            tls.certificateVerification = .none
        } else if !trust.caFiles.isEmpty {
            var roots: [NIOSSLCertificate] = []
            for file in trust.caFiles {
                let certificates: [NIOSSLCertificate]
                do {
                    certificates = try NIOSSLCertificate.fromPEMFile(file.path)
                } catch {
                    throw StorageError(.unknown, "\(file.source): not a readable PEM certificate file")
                }
                guard !certificates.isEmpty else { throw StorageError(.unknown, "\(file.source): holds no certificate") }
                roots += certificates
            }
            tls.additionalTrustRoots = [.certificates(roots)]
        }
        return clients.withLock { clients in
            if let client = clients[trust] { return client }
            // Every wait has a deadline: 10 s to connect, and 120 s of silence from a server once a
            // request is sent (a stalled download or an answer that never comes).
            var configuration = HTTPClient.Configuration(tlsConfiguration: tls, timeout: .init(connect: .seconds(10), read: .seconds(120)))
            configuration.decompression = .disabled
            configuration.redirectConfiguration = .disallow
            configuration.connectionPool.retryConnectionEstablishment = false
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[trust] = client
            return client
        }
    }
}
