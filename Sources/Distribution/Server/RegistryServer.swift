import FerryCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
import Logging
import NIOCore
import OCI
import ServiceLifecycle
import SystemPackage

/// An OCI distribution registry (spec 1.1) in front of any `Storage`: it maps HTTP to the
/// protocol's calls and back and knows no format. What the location cannot do (write to an
/// archive, delete from a snapshot) is `UNSUPPORTED`.
public final class RegistryServer: Sendable {
    /// How the server is set up.
    public struct Options: Sendable {
        /// Where to listen.
        public var host = "127.0.0.1"
        public var port = 5000
        /// Refuse every write (`UNSUPPORTED`): for archives, or when asked.
        public var readOnly = false
        /// The name under which the location's unnamed repository (a layout's bare tags) appears;
        /// nil for places whose repositories all have names.
        public var unnamedRepository: String?
        /// Where upload sessions are spooled: a directory on the location's own filesystem.
        public var spoolDirectory: FilePath
        /// An upload session untouched for this long is removed.
        public var uploadExpiry: Duration = .seconds(3600)
        /// The largest manifest accepted (the CNCF registry's limit).
        public var maximumManifestSize = 4 << 20
        /// The largest blob accepted in one upload.
        public var maximumBlobSize: Int64 = 1 << 40
        /// How long requests in flight may go on after SIGTERM or SIGINT.
        public var shutdownGrace: Duration = .seconds(10)
        /// Access-log lines as JSON objects instead of text.
        public var jsonLog = false
        /// Who may read and write.
        public var access = ServerAccess(.open)
        /// Epoch's extensions to the API: blob digests without `sha256:`, and `PUT` of a whole
        /// blob to `/v2/<name>/blobs/<digest>` (for an Epoch bucket served in Epoch's place).
        public var epochExtensions = false
        /// What `GET /dl/<name>` makes of an artifact (Epoch's download); no such endpoint when nil.
        public var downloads: (any Downloads)?
        /// HTTPS with this certificate chain and key (PEM files); plain HTTP when nil.
        public var tls: (certificate: String, key: String)?

        public init(spoolDirectory: FilePath) {
            self.spoolDirectory = spoolDirectory
        }
    }

    let store: any Storage
    let options: Options
    let uploads: UploadSessions
    let log: AccessLog
    let metrics: ServerMetrics

    public init(store: any Storage, options: Options, logTo output: @escaping @Sendable (String) -> Void) throws {
        self.store = store
        self.options = options
        uploads = try UploadSessions(spool: options.spoolDirectory, expiry: options.uploadExpiry)
        metrics = ServerMetrics()
        log = AccessLog(json: options.jsonLog, output: output, metrics: metrics)
    }

    /// The storage repository a name of the API stands for.
    func repository(_ name: String) -> String {
        name == options.unnamedRepository ? "" : name
    }

    /// The name of the API a storage repository appears as.
    func apiName(_ repository: String) -> String {
        repository.isEmpty ? options.unnamedRepository ?? "" : repository
    }

    /// Answers one request; every failure becomes the spec's error body.
    func respond(to request: Request, channel: (any Channel)? = nil) async -> Response {
        let started = ContinuousClock.now
        var request = request
        let counter = ByteCounter()
        let response: Response
        var failure: String?
        do {
            response = try await route(&request, counter: counter, channel: channel)
        } catch let refusal as RegistryFailure {
            response = refusal.response
        } catch let error as StorageError {
            response = RegistryFailure(error).response
            if error.code == .unknown { failure = error.message }
        } catch {
            response = RegistryFailure(.internalServerError, .unknown, "the server could not complete the request").response
            failure = "\(error)"
        }
        // The line is written when the body has gone out (or failed to): its bytes and time.
        let (method, path, status, log, failed) = (request.method.rawValue, request.uri.path, response.status.code, self.log, failure)
        var logged = response
        let body = response.body
        logged.body = ResponseBody(contentLength: body.contentLength) { writer in
            var counting = CountingWriter(inner: writer)
            do {
                try await body.write(counting)
            } catch {
                log.record(method: method, path: path, status: status, bytesIn: counter.value, bytesOut: counting.count.value,
                           since: started, failure: "\(error)")
                throw error
            }
            log.record(method: method, path: path, status: status, bytesIn: counter.value, bytesOut: counting.count.value, since: started, failure: failed)
            _ = counting
        }
        return logged
    }

    private func route(_ request: inout Request, counter: ByteCounter, channel: (any Channel)?) async throws -> Response {
        let path = request.uri.path
        if case .epoch = options.access.mode, path == "/v2/token", [.get, .post].contains(request.method) {
            return await ServerAccess.tokenResponse(&request)
        }
        let isWrite = ![.get, .head].contains(request.method)
        // The realm of a challenge names the host the client asked for, if it is one.
        let asked = request.head.authority ?? ""
        let host = Names.isValidHost(asked) ? asked : "\(options.host):\(options.port)"
        if let refusal = options.access.refusal(request, isWrite: isWrite, isBase: path == "/v2" || path == "/v2/", host: host) {
            throw refusal
        }
        if path == "/metrics", request.method == .get {
            metrics.uploadsInProgress.set(to: Double(await uploads.count))
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
        if let downloads = options.downloads, path.hasPrefix("/dl/"), [.get, .head].contains(request.method) {
            return try await download(String(path.dropFirst(4)), downloads: downloads)
        }
        guard let route = RegistryRoute.parse(path) else {
            throw RegistryFailure(.notFound, .nameInvalid, "no such endpoint, or not a valid repository name")
        }
        let method = request.method
        if isWrite, options.readOnly {
            throw RegistryFailure.unsupported("\(store.displayName.hasPrefix("oci-archive:") ? "an archive" : "this registry") is read-only")
        }
        switch (route, method) {
        case (.base, .get), (.base, .head):
            return Response(status: .ok, headers: [.dockerDistributionAPIVersion: "registry/2.0", .contentType: "application/json"],
                            body: method == .head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(string: "{}")))
        case (.catalog, .get):
            return try await catalog(request)
        case (.tags(let name), .get):
            return try await tags(name, request)
        case (.manifest(let name, let reference), .get), (.manifest(let name, let reference), .head):
            return try await getManifest(name, reference, head: method == .head)
        case (.manifest(let name, let reference), .put):
            return try await putManifest(name, reference, &request, counter: counter)
        case (.manifest(let name, let reference), .delete):
            return try await deleteManifest(name, reference)
        case (.blob(let name, let digest), .get), (.blob(let name, let digest), .head):
            return try await getBlob(name, digest, request, head: method == .head, channel: channel)
        case (.blob(let name, let digest), .put) where options.epochExtensions:
            return try await putWholeBlob(name, digest, &request, counter: counter)
        case (.blob(let name, let digest), .delete):
            return try await deleteBlob(name, digest)
        case (.uploads(let name), .post):
            return try await startUpload(name, &request, counter: counter)
        case (.upload(let name, let id), .get):
            return try await uploadStatus(name, id)
        case (.upload(let name, let id), .patch):
            return try await patchUpload(name, id, &request, counter: counter)
        case (.upload(let name, let id), .put):
            return try await finishUpload(name, id, &request, counter: counter)
        case (.upload(let name, let id), .delete):
            return try await cancelUpload(name, id)
        case (.referrers(let name, let digest), .get):
            return try await referrers(name, digest, request)
        default:
            throw RegistryFailure(.methodNotAllowed, .unsupported, "\(method.rawValue) is not allowed here")
        }
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting, lets requests in flight finish for
    /// the grace period, and returns. `ready` is called with the bound address once listening.
    public func run(logger: Logger, ready: @escaping @Sendable (String) -> Void) async throws {
        let responder = CallbackResponder<ServerContext> { request, context in await self.respond(to: request, channel: context.channel) }
        let options = self.options
        // Plain HTTP sends file blobs with sendfile (FileSending).
        var server = HTTPServerBuilder.http1(configuration: .init(additionalChannelHandlers: [FileSendHandler()]))
        if let tls = options.tls {
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(tls.certificate).map { NIOSSLCertificateSource.certificate($0) }
                let key = try NIOSSLPrivateKey(file: tls.key, format: .pem)
                server = try .tls(.http1(), tlsConfiguration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key)))
            } catch {
                throw StorageError(.unknown, "--tls-cert \(tls.certificate) / --tls-key \(tls.key): \(error)")
            }
        }
        let app = Application(
            responder: responder,
            server: server,
            configuration: ApplicationConfiguration(address: .hostname(options.host, port: options.port), serverName: nil),
            onServerRunning: { channel in
                ready(channel.localAddress.map { "\($0.ipAddress ?? options.host):\($0.port ?? options.port)" } ?? "\(options.host):\(options.port)")
            },
            logger: logger)
        // Uploads a killed server left in the location itself (S3 multipart uploads) go once
        // they are older than any live session can be, now and every expiry time after.
        let store = self.store
        let sweep: @Sendable () async -> Void = {
            _ = try? await (store as? any UploadSpooling)?.sweepUploadSpools(olderThan: options.uploadExpiry)
        }
        await sweep()
        let expiry = Expirer(uploads: uploads, sweep: sweep, sweepEvery: max(options.uploadExpiry, .seconds(1)))
        // Services stop in reverse order: the server first (it stops accepting at once), then
        // the expirer.
        var configuration = ServiceGroupConfiguration(services: [expiry, app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = .init(options.shutdownGrace)
        try await ServiceGroup(configuration: configuration).run()
        await uploads.removeAll()
    }
}

/// The request context: Hummingbird's, and the connection, which file sends go through.
struct ServerContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Removes expired upload sessions every second while the server runs, and sweeps the
/// location's own spools (`UploadSpooling`) every expiry time.
struct Expirer: Service {
    let uploads: UploadSessions
    /// Sweeps the location's own spools, every `sweepEvery`.
    let sweep: @Sendable () async -> Void
    let sweepEvery: Duration

    func run() async throws {
        var swept = ContinuousClock.now
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: .seconds(1))
            await uploads.expire()
            if swept.duration(to: .now) >= sweepEvery {
                await sweep()
                swept = .now
            }
        }
    }
}

/// A body writer that counts what goes through it.
struct CountingWriter: ResponseBodyWriter {
    var inner: any ResponseBodyWriter
    let count = ByteCounter()

    mutating func write(_ buffer: ByteBuffer) async throws {
        count.add(buffer.readableBytes)
        try await inner.write(buffer)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        try await inner.finish(trailingHeaders)
    }
}

/// Bytes of a request body as they are read, for the access log.
final class ByteCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count: Int64 = 0
    func add(_ n: Int) { lock.withLock { count += Int64(n) } }
    var value: Int64 { lock.withLock { count } }
}
