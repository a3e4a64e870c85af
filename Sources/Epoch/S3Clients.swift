import AsyncHTTPClient
import FerryCore
import NIOSSL
import Synchronization

/// The HTTP clients S3 stores share: one per trust setting, alive for the whole process (like
/// `HTTPClient.shared`), so connections are pooled across stores and no client is torn down
/// while a request of another store still uses it. A connection that cannot be made fails its
/// request at once: `S3ObjectStore` retries with its own backoff, and gives up at once on what
/// no retry mends (an untrusted certificate).
enum S3Clients {
    private struct Trust: Hashable {
        var caCertificatePath: String?
        var verifies: Bool
    }

    private static let clients = Mutex<[Trust: HTTPClient]>([:])

    /// The client for `config`'s TLS settings: the shared one when nothing is special.
    static func client(for config: EpochS3Config) throws -> HTTPClient {
        let trust = Trust(caCertificatePath: config.caCertificatePath, verifies: config.verifiesCertificates)
        var tls = TLSConfiguration.makeClientConfiguration()
        if !trust.verifies {
            tls.certificateVerification = .none
        } else if let path = trust.caCertificatePath {
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMFile(path)
            } catch {
                throw StorageError(.unknown, "EPOCH_CA_CERT=\(path): not a readable PEM certificate file")
            }
            guard !certificates.isEmpty else { throw StorageError(.unknown, "EPOCH_CA_CERT=\(path): holds no certificate") }
            tls.additionalTrustRoots = [.certificates(certificates)]
        }
        return clients.withLock { clients in
            if let client = clients[trust] { return client }
            var configuration = HTTPClient.Configuration(tlsConfiguration: tls, timeout: .init(connect: .seconds(10)))
            configuration.decompression = .disabled
            configuration.connectionPool.retryConnectionEstablishment = false
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[trust] = client
            return client
        }
    }
}
