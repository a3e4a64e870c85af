import AsyncHTTPClient
import FerryCore
import NIOCore
import NIOSSL
import Synchronization

/// How long every network wait may last: a server may stay silent for `idleTimeout` (while
/// connecting, before it answers, between the bytes of an answer, while it takes an upload), and
/// one request's retries stop once its attempts have taken `retryWindow`, so a server that stays
/// silent costs two idle timeouts, never one per attempt. Set once, before the first request
/// (`ferry --timeout`).
public enum NetworkDeadlines {
    private static let idle = Mutex<Duration>(.seconds(60))

    /// How long a server may send or take nothing; 60 s unless set.
    public static var idleTimeout: Duration { idle.withLock { $0 } }

    public static func setIdleTimeout(_ timeout: Duration) {
        idle.withLock { $0 = max(timeout, .milliseconds(100)) }
    }

    /// "60 s", "2.5 s": for messages.
    public static var idleTimeoutText: String {
        let (seconds, attoseconds) = idleTimeout.components
        let tenths = attoseconds / 100_000_000_000_000_000
        return tenths == 0 ? "\(seconds) s" : "\(seconds).\(tenths) s"
    }

    /// How long one request may keep being retried.
    public static var retryWindow: Duration { idleTimeout * 2 }
}

/// The attempts of one request: at most `attempts`, and none begun after the retry window.
public struct RetryBudget: Sendable {
    public let attempts: Int
    private let started = ContinuousClock.now
    private let window: Duration

    public init(attempts: Int, window: Duration = NetworkDeadlines.retryWindow) {
        self.attempts = max(1, attempts)
        self.window = window
    }

    /// Whether another attempt may follow attempt number `attempt` (counted from 1).
    public func allowsRetry(after attempt: Int) -> Bool {
        attempt < attempts && ContinuousClock.now - started < window
    }
}

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
    private static let clients = Mutex<[Key: HTTPClient]>([:])

    private struct Key: Hashable {
        var trust: Trust
        var idleTimeout: Duration
    }

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
        let key = Key(trust: trust, idleTimeout: NetworkDeadlines.idleTimeout)
        return clients.withLock { clients in
            if let client = clients[key] { return client }
            // Every wait has a deadline: 10 s to connect (less when the idle timeout is shorter),
            // and the idle timeout for a server that answers nothing, stalls a download or stops
            // taking an upload.
            let idle = TimeAmount(NetworkDeadlines.idleTimeout)
            var configuration = HTTPClient.Configuration(
                tlsConfiguration: tls, timeout: .init(connect: min(.seconds(10), idle), read: idle, write: idle))
            configuration.decompression = .disabled
            configuration.redirectConfiguration = .disallow
            configuration.connectionPool.retryConnectionEstablishment = false
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[key] = client
            return client
        }
    }
}
