import AsyncHTTPClient
import Crypto
import FerryCore
import HTTPSupport
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Objects in an S3 bucket, signed with SigV4, path-style (`http(s)://HOST/BUCKET/KEY`) or
/// virtual-host (`http(s)://BUCKET.HOST/KEY`).
/// Streaming puts are signed `UNSIGNED-PAYLOAD` (the digest is verified before the bytes leave
/// Ferry); reads stream; idempotent requests are retried with backoff on 5xx and dropped
/// connections. Keys and secrets never appear in messages.
public struct S3ObjectStore: ObjectStore {
    public let config: EpochS3Config
    public let displayName: String
    private let signer: SigV4Signer
    private let client: HTTPClient
    /// Objects larger than this go up in parts (a single PUT is limited to 5 GiB).
    public let multipartThreshold: Int64
    /// The smallest part; larger objects get larger parts, to stay within 10,000 parts.
    public let partSize: Int64
    /// Parts in memory at once, across every upload of this store: the memory multipart uploads
    /// hold is partSize × partsInFlight however many blobs go up together.
    public let partsInFlight: Int
    private let budget: PartBudget

    /// A store for `config`; `client` defaults to one that trusts what the configuration says
    /// (the system's CAs, plus `EPOCH_CA_CERT`, or nothing checked with `--tls-verify=false`).
    public init(
        config: EpochS3Config, client: HTTPClient? = nil, multipartThreshold: Int64 = 64 << 20, partSize: Int64 = 8 << 20,
        partsInFlight: Int = 2
    ) throws {
        self.config = config
        displayName = "epoch:s3://\(config.bucket)"
        signer = SigV4Signer(credentials: config.credentials, region: config.region)
        self.client = try client ?? HTTPClients.client(for: config.trust)
        self.multipartThreshold = multipartThreshold
        self.partSize = partSize
        self.partsInFlight = max(1, partsInFlight)
        budget = PartBudget(self.partsInFlight)
    }

    // MARK: requests

    struct Response {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: HTTPClientResponse.Body
    }

    /// The host and path a request for `key` (nil: the bucket itself) goes to.
    func target(for key: String?) -> (host: String, path: String) {
        let object = key.map { "/" + SigV4Signer.uriEncode($0, encodeSlash: false) }
        switch config.addressing {
        case .path:
            return (config.host, "/\(SigV4Signer.uriEncode(config.bucket, encodeSlash: true))" + (object ?? ""))
        case .virtualHost:
            return ("\(config.bucket).\(config.host)", object ?? "/")
        }
    }

    /// The request for `key` as it goes on the wire, signed at `date`: its URL and headers.
    func signedRequest(
        _ method: String, key: String?, query: [(String, String)] = [], headers extra: [(String, String)] = [],
        payloadHash: String = SigV4Signer.emptyPayloadHash, date: Date
    ) -> (url: String, headers: [(String, String)]) {
        let (host, path) = target(for: key)
        let headers = [("Host", host), ("x-amz-content-sha256", payloadHash)] + extra
        let signed = signer.sign(method: method, path: path, query: query, headers: headers, payloadHash: payloadHash, date: date)
        let queryString = SigV4Signer.canonicalQuery(query)
        let url = "\(config.secure ? "https" : "http")://\(host)\(path)\(queryString.isEmpty ? "" : "?" + queryString)"
        return (url, headers.filter { $0.0 != "Host" } + [("x-amz-date", signed.amzDate), ("Authorization", signed.authorization)])
    }

    /// Sends one signed request. `body` is called anew for each attempt; nil for no body.
    func send(
        _ method: HTTPMethod, key: String?, query: [(String, String)] = [], headers extra: [(String, String)] = [],
        body: (() -> HTTPClientRequest.Body?)? = nil, payloadHash: String = SigV4Signer.emptyPayloadHash, retry: Bool = true
    ) async throws -> Response {
        let budget = RetryBudget(attempts: 5)
        var attempt = 0
        while true {
            attempt += 1
            let signed = signedRequest(method.rawValue, key: key, query: query, headers: extra, payloadHash: payloadHash, date: Date())
            var request = HTTPClientRequest(url: signed.url)
            request.method = method
            for (name, value) in signed.headers { request.headers.add(name: name, value: value) }
            request.body = body?()
            do {
                let response = try await client.execute(request, timeout: .minutes(30))
                if retry, response.status.code >= 500, budget.allowsRetry(after: attempt) {
                    _ = try? await response.body.collect(upTo: 1 << 20)
                    try await Task.sleep(nanoseconds: UInt64(200_000_000) << (attempt - 1))
                    continue
                }
                return Response(status: response.status, headers: response.headers, body: response.body)
            } catch where retry && budget.allowsRetry(after: attempt) && HTTPFailure.isTransient(error) {
                try await Task.sleep(nanoseconds: UInt64(200_000_000) << (attempt - 1))
            } catch {
                throw StorageError(.unknown, "\(displayName): \(method.rawValue) \(key ?? ""): \(HTTPFailure.describe(error))")
            }
        }
    }

    /// Fails with the S3 error code the server sent, naming the key.
    func failure(_ response: Response, _ operation: String, key: String?) async -> StorageError {
        let body = (try? await response.body.collect(upTo: 1 << 16)).map { String(buffer: $0) } ?? ""
        let code = body.range(of: "<Code>").flatMap { start in
            body.range(of: "</Code>").map { String(body[start.upperBound..<$0.lowerBound]) }
        } ?? "HTTP \(response.status.code)"
        let kind: ErrorCode = response.status.code == 404 ? .blobUnknown : (response.status.code == 403 ? .denied : .unknown)
        return StorageError(kind, "\(displayName): \(operation) \(key ?? ""): \(code)")
    }

    /// Creates the bucket when it does not exist (epoch expects it to; tests and `make bench`
    /// make their own).
    public func createBucket() async throws {
        let response = try await send(.PUT, key: nil)
        let body = (try? await response.body.collect(upTo: 1 << 16)).map { String(buffer: $0) } ?? ""
        guard (200..<300).contains(response.status.code) || body.contains("BucketAlreadyOwnedByYou") || body.contains("BucketAlreadyExists")
        else { throw StorageError(.unknown, "\(displayName): cannot create the bucket: HTTP \(response.status.code)") }
    }

    // MARK: ObjectStore

    public func requireBucket() async throws {
        let response = try await send(.HEAD, key: nil)
        guard (200..<300).contains(response.status.code) else {
            let reason = response.status.code == 404 ? "no such bucket" : "HTTP \(response.status.code)"
            throw StorageError(response.status.code == 404 ? .nameUnknown : .unknown, "\(displayName): \(reason)")
        }
    }

    /// The largest object S3 stores (5 TiB).
    public static let maximumObjectSize: Int64 = 5 << 40

    public func put(_ key: String, from stream: ByteStream, size: Int64) async throws {
        guard size >= 0, size <= Self.maximumObjectSize else {
            throw StorageError(.sizeInvalid, "\(displayName): \(key): \(size) bytes is more than S3 stores in one object (5 TiB)")
        }
        if size > multipartThreshold {
            try await putInParts(key, from: stream, size: size)
            return
        }
        let sequence = stream.map { ByteBuffer(bytes: $0) }
        let response = try await send(.PUT, key: key, body: { .stream(sequence, length: .known(size)) }, payloadHash: "UNSIGNED-PAYLOAD", retry: false)
        guard (200..<300).contains(response.status.code) else { throw await failure(response, "PUT", key: key) }
        _ = try? await response.body.collect(upTo: 1 << 16)
    }

    /// Small objects (tags, manifests, the catalog) go in one request whose body the server
    /// checks against `Content-MD5` and the signed SHA-256: a body cut short by a killed client
    /// or a broken connection is refused (`BadDigest`), never stored.
    public func write(_ key: String, _ bytes: [UInt8]) async throws {
        guard bytes.count <= multipartThreshold else {
            try await put(key, from: .bytes(bytes), size: Int64(bytes.count))
            return
        }
        try await putWhole(key, bytes, md5Of: bytes)
    }

    /// One PUT of `bytes` declaring the MD5 of `declared` (the same bytes, but for a test that
    /// checks the server refuses a body that does not match).
    func putWhole(_ key: String, _ bytes: [UInt8], md5Of declared: [UInt8]) async throws {
        let put = try await send(.PUT, key: key, headers: [Self.contentMD5(declared)], body: { .bytes(bytes) },
                                 payloadHash: SigV4Signer.hex(SHA256Hasher.hash(bytes)), retry: false)
        guard (200..<300).contains(put.status.code) else { throw await failure(put, "PUT", key: key) }
        _ = try? await put.body.collect(upTo: 1 << 16)
    }

    /// The `Content-MD5` header of a body.
    static func contentMD5(_ bytes: [UInt8]) -> (String, String) {
        ("Content-MD5", Data(Insecure.MD5.hash(data: bytes)).base64EncodedString())
    }

    public func get(_ key: String, range: Range<Int64>?) async throws -> ByteStream {
        let headers = range.map { [("Range", "bytes=\($0.lowerBound)-\($0.upperBound - 1)")] } ?? []
        let response = try await send(.GET, key: key, headers: headers)
        guard (200..<300).contains(response.status.code) else { throw await failure(response, "GET", key: key) }
        return response.body.byteStream()
    }

    public func head(_ key: String) async throws -> ObjectInfo? {
        let response = try await send(.HEAD, key: key)
        if response.status.code == 404 { return nil }
        guard (200..<300).contains(response.status.code) else { throw await failure(response, "HEAD", key: key) }
        let size = response.headers.first(name: "Content-Length").flatMap { Int64($0) } ?? 0
        let modified = response.headers.first(name: "Last-Modified").flatMap(Self.httpDate) ?? Date()
        return ObjectInfo(key: key, size: size, modified: modified)
    }

    /// Pages through ListObjectsV2. A server that hands back a continuation token it gave
    /// before, or pages whose keys do not move past the last one listed (S3 lists in key
    /// order), would make this loop forever and grow without bound: that is an error.
    public func list(prefix: String) async throws -> [ObjectInfo] {
        var found: [ObjectInfo] = []
        var token: String?
        var tokens = Set<String>()
        var lastKey: String?
        var stalled = 0
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            let response = try await send(.GET, key: nil, query: query)
            guard (200..<300).contains(response.status.code) else { throw await failure(response, "LIST", key: prefix) }
            let body = Data((try await response.body.collect(upTo: 64 << 20)).readableBytesView)
            let page: ListPage
            do { page = try ListPage(data: body) } catch { throw StorageError(.unknown, "\(displayName): LIST \(prefix): \(error)") }
            let fresh = lastKey.map { last in page.objects.filter { $0.key > last } } ?? page.objects
            found += fresh
            lastKey = fresh.map(\.key).max() ?? lastKey
            stalled = fresh.isEmpty ? stalled + 1 : 0
            token = page.truncated ? page.nextToken : nil
            if let next = token {
                guard tokens.insert(next).inserted, stalled < 3 else {
                    throw StorageError(.unknown, "\(displayName): LIST \(prefix): the server keeps answering with the same page (continuation token repeated); stopped")
                }
            }
        } while token != nil
        return found.sorted { $0.key < $1.key }
    }

    public func delete(_ key: String) async throws {
        let response = try await send(.DELETE, key: key)
        guard (200..<300).contains(response.status.code) || response.status.code == 404 else {
            throw await failure(response, "DELETE", key: key)
        }
    }

    /// S3 cannot change an object's time in place; a copy onto itself would rewrite it. The
    /// grace period of `ferry gc` counts from the write.
    public func touch(_ key: String) async throws {}

    /// Read, change, and write back with `If-Match` on the ETag read (`If-None-Match: *` when the
    /// object was absent), retrying when another writer got there first (412).
    public func update(_ key: String, _ transform: @escaping @Sendable ([UInt8]?) throws -> [UInt8]?) async throws {
        for attempt in 1...20 {
            let response = try await send(.GET, key: key)
            var current: [UInt8]?
            var condition: (String, String) = ("If-None-Match", "*")
            if response.status.code == 404 {
                _ = try? await response.body.collect(upTo: 1 << 16)
            } else if (200..<300).contains(response.status.code) {
                current = Array((try await response.body.collect(upTo: 256 << 20)).readableBytesView)
                if let etag = response.headers.first(name: "ETag") { condition = ("If-Match", etag) }
            } else {
                throw await failure(response, "GET", key: key)
            }
            guard let next = try transform(current) else { return }
            let hash = SigV4Signer.hex(SHA256Hasher.hash(next))
            let put = try await send(.PUT, key: key, headers: [condition, Self.contentMD5(next)], body: { .bytes(next) }, payloadHash: hash)
            if (200..<300).contains(put.status.code) {
                _ = try? await put.body.collect(upTo: 1 << 16)
                return
            }
            guard put.status.code == 412 || put.status.code == 409 else { throw await failure(put, "PUT", key: key) }
            _ = try? await put.body.collect(upTo: 1 << 16)
            try await Task.sleep(nanoseconds: UInt64.random(in: 10_000_000...50_000_000) * UInt64(attempt))
        }
        throw StorageError(.unknown, "\(displayName): \(key): gave up after 20 conflicting updates")
    }

    /// Multipart upload: parts read from the stream one after another and sent `partsInFlight`
    /// at a time, each retried on its own (its bytes are in memory); any failure aborts the
    /// upload, so no object and no stray parts are left.
    private func putInParts(_ key: String, from stream: ByteStream, size: Int64) async throws {
        let uploadID = try await startMultipart(key)
        let part = Int(max(partSize, (size + 9_999) / 10_000))
        do {
            var etags: [Int: String] = [:]
            try await withThrowingTaskGroup(of: (Int, String).self) { group in
                var iterator = stream.makeAsyncIterator()
                var leftover: ArraySlice<UInt8> = []
                var number = 0
                var sent: Int64 = 0
                while sent < size || number == 0 {
                    // A slot first, then the bytes: parts in memory never exceed the budget.
                    while !(await budget.tryAcquire()) {
                        guard let (done, etag) = try await group.next() else { await budget.wait(); continue }
                        etags[done] = etag
                    }
                    var buffer = ByteBufferAllocator().buffer(capacity: Int(min(Int64(part), size - sent)))
                    buffer.writeBytes(leftover)
                    leftover = []
                    while buffer.readableBytes < part, let chunk = try await iterator.next() {
                        let room = part - buffer.readableBytes
                        buffer.writeBytes(chunk.prefix(room))
                        if chunk.count > room { leftover = chunk[room...] }
                    }
                    if buffer.readableBytes == 0, number > 0 {
                        await budget.release()
                        break
                    }
                    number += 1
                    sent += Int64(buffer.readableBytes)
                    let partNumber = number
                    let bytes = buffer
                    group.addTask {
                        defer { Task { await self.budget.release() } }
                        return (partNumber, try await self.uploadPart(bytes, number: partNumber, key: key, uploadID: uploadID))
                    }
                }
                // The stream ends here; a verifying stream throws now if the bytes were wrong.
                while let chunk = try await iterator.next() {
                    guard chunk.isEmpty else { throw StorageError(.sizeInvalid, "\(displayName): \(key): more than \(size) bytes") }
                }
                guard sent == size else { throw StorageError(.sizeInvalid, "\(displayName): \(key): \(sent) bytes, not \(size)") }
                while let (done, etag) = try await group.next() { etags[done] = etag }
            }
            try await completeMultipart(key, uploadID: uploadID, etags: etags)
        } catch {
            await abortMultipart(key, uploadID: uploadID)
            throw error
        }
    }

    func uploadPart(_ bytes: ByteBuffer, number: Int, key: String, uploadID: String) async throws -> String {
        let hash = bytes.withUnsafeReadableBytes { SigV4Signer.hex(SHA256.hash(data: $0)) }
        let response = try await send(.PUT, key: key, query: [("partNumber", "\(number)"), ("uploadId", uploadID)],
                                      body: { .bytes(bytes) }, payloadHash: hash)
        guard (200..<300).contains(response.status.code), let etag = response.headers.first(name: "ETag") else {
            throw await failure(response, "PUT part \(number) of", key: key)
        }
        _ = try? await response.body.collect(upTo: 1 << 16)
        return etag
    }

    static func element(_ name: String, in xml: String) -> String? {
        guard let start = xml.range(of: "<\(name)>"), let end = xml.range(of: "</\(name)>", range: start.upperBound..<xml.endIndex) else { return nil }
        return String(xml[start.upperBound..<end.lowerBound])
    }

    static func httpDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(secondsFromGMT: 0)
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }
}

/// Slots for multipart parts held in memory, shared by every upload of one store.
private actor PartBudget {
    private var free: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(_ slots: Int) { free = slots }

    /// Takes a slot if one is free.
    func tryAcquire() -> Bool {
        guard free > 0 else { return false }
        free -= 1
        return true
    }

    /// Waits until a slot is released (by another upload).
    func wait() async {
        if free > 0 { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        free += 1
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }
}
