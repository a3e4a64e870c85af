import AsyncHTTPClient
import FerryCore
import Foundation
import NIOCore
import OCI

extension RegistryStore {
    public func pushBlob(_ descriptor: Descriptor, from stream: ByteStream, in repository: String) async throws {
        let name = try self.name(repository)
        let operation = "\(at(name)): push blob \(descriptor.digest)"
        let verified = stream.verifying(descriptor)
        // A blob this registry holds in another repository is mounted, not sent.
        var location: String?
        if let from = transport.known.withLock({ $0[descriptor.digest] }), from != name {
            let mount = try await transport.expect([201, 202], RegistryTransport.Request(
                method: .POST, path: "/v2/\(name)/blobs/uploads/", query: [("mount", descriptor.digest.description), ("from", from)],
                headers: [("Content-Length", "0")], scope: .push(name)), operation: operation)
            await mount.discard()
            if mount.status.code == 201 {
                transport.known.withLock { $0[descriptor.digest] = name }
                return
            }
            location = try uploadLocation(mount, operation: operation)
        }
        if descriptor.size <= monolithicLimit {
            if location == nil {
                let start = try await transport.expect([202], RegistryTransport.Request(
                    method: .POST, path: "/v2/\(name)/blobs/uploads/", headers: [("Content-Length", "0")], scope: .push(name)), operation: operation)
                await start.discard()
                location = try uploadLocation(start, operation: operation)
            }
            // One PUT with the whole (small) blob.
            let bytes = try await verified.collect(upTo: Int(descriptor.size), what: operation)
            let done = try await transport.expect([201], RegistryTransport.Request(
                method: .PUT, path: location!, query: [("digest", descriptor.digest.description)],
                headers: [("Content-Type", "application/octet-stream"), ("Content-Length", "\(bytes.count)")],
                body: { .bytes(ByteBuffer(bytes: bytes)) }, scope: .push(name)), operation: operation)
            await done.discard()
        } else {
            try await pushInChunks(descriptor, from: verified, session: location, name: name, operation: operation)
        }
        transport.known.withLock { $0[descriptor.digest] = name }
    }

    /// A large blob: continued from where an earlier run's session stands when the journal
    /// remembers one the registry still knows, else in a new session; PATCHed in chunks, each
    /// complete chunk remembered, then closed with a PUT.
    private func pushInChunks(_ descriptor: Descriptor, from stream: ByteStream, session: String?, name: String, operation: String) async throws {
        let digest = descriptor.digest.description
        var url = session
        var offset: Int64 = 0
        var minimumChunk: Int64?
        if url == nil, let saved = journal.entry(host: host, repository: name, digest: digest) {
            if let (resumed, held) = try await uploadStatus(saved.location, name: name, operation: operation), held <= descriptor.size {
                url = resumed
                offset = held
                minimumChunk = saved.minimumChunk
            } else {
                journal.forget(host: host, repository: name, digest: digest)
            }
        }
        if url == nil {
            let start = try await transport.expect([202], RegistryTransport.Request(
                method: .POST, path: "/v2/\(name)/blobs/uploads/", headers: [("Content-Length", "0")], scope: .push(name)), operation: operation)
            await start.discard()
            url = try uploadLocation(start, operation: operation)
            minimumChunk = start.headers.first(name: "OCI-Chunk-Min-Length").flatMap(Int64.init)
        }
        journal.remember(url!, minimumChunk: minimumChunk, host: host, repository: name, digest: digest)
        let source = ChunkSource(stream)
        // What the registry already holds is read and hashed, not sent.
        try await source.skip(offset)
        url = try await sendChunks(from: source, offset: offset, size: descriptor.size, minimum: minimumChunk, to: url!, name: name, digest: digest, operation: operation)
        // The digest is checked here, before the PUT that would make the blob visible.
        try await source.finish()
        let done = try await transport.expect([201], RegistryTransport.Request(
            method: .PUT, path: url!, query: [("digest", digest)], headers: [("Content-Length", "0")], scope: .push(name)), operation: operation)
        await done.discard()
        journal.forget(host: host, repository: name, digest: digest)
    }

    /// Where a remembered session stands: its fresh URL and the bytes the registry holds, or nil
    /// when the registry no longer knows it.
    private func uploadStatus(_ location: String, name: String, operation: String) async throws -> (String, Int64)? {
        let response = try await transport.send(RegistryTransport.Request(method: .GET, path: location, scope: .push(name), operation: operation))
        await response.discard()
        guard response.status.code == 204 || response.status.code == 200 else { return nil }
        // `Range: 0-END` is the bytes held; the CNCF registry writes `0-0` for none.
        var held: Int64 = 0
        if let range = response.headers.first(name: "Range"), let end = range.split(separator: "-").last.flatMap({ Int64($0) }), end > 0 {
            held = end + 1
        }
        let fresh = response.headers.first(name: "Location").flatMap { URL(string: $0, relativeTo: response.url)?.absoluteString } ?? location
        return (fresh, held)
    }

    /// PATCHes the stream in chunks of `--max-chunk` (at least the registry's
    /// `OCI-Chunk-Min-Length`), or all of it in one PATCH; each with its `Content-Range`. Returns
    /// the location for the closing PUT.
    private func sendChunks(
        from source: ChunkSource, offset start: Int64, size: Int64, minimum: Int64?, to session: String, name: String, digest: String, operation: String
    ) async throws -> String {
        let chunk = max(maxChunk ?? Self.defaultChunk, minimum ?? 0, 1 << 20)
        var url = session
        var offset = start
        while offset < size {
            let length = min(chunk, size - offset)
            let body = source.next(length)
            let response = try await transport.expect([202, 204], RegistryTransport.Request(
                method: .PATCH, path: url,
                headers: [("Content-Type", "application/octet-stream"), ("Content-Range", "\(offset)-\(offset + length - 1)"),
                          ("Content-Length", "\(length)")],
                body: { .stream(body, length: .known(length)) }, scope: .push(name), retries: false, deadline: .hours(24)),
                operation: operation)
            await response.discard()
            url = try uploadLocation(response, operation: operation)
            offset += length
            journal.remember(url, minimumChunk: minimum, host: host, repository: name, digest: digest)
        }
        return url
    }

    /// The chunk size without `--max-chunk`: large enough that requests cost nothing next to the
    /// bytes, small enough that an interrupted push loses little (a registry that keeps the part
    /// of a request it got, as the CNCF registry does, cannot continue that request's session).
    static let defaultChunk: Int64 = 64 << 20

    /// The upload session's URL from `Location`, absolute.
    private func uploadLocation(_ response: RegistryResponse, operation: String) throws -> String {
        guard let location = response.headers.first(name: "Location"), let url = URL(string: location, relativeTo: response.url)?.absoluteURL else {
            throw StorageError(.blobUploadInvalid, "\(operation): the registry gave no upload location")
        }
        return url.absoluteString
    }

    public func pushManifest(_ manifest: Manifest, as target: ManifestTarget, in repository: String) async throws {
        let name = try self.name(repository)
        var reference = manifest.digest.description
        if case .root(let tag?) = target { reference = tag }
        let operation = "\(at(name, reference)): push manifest \(manifest.digest)"
        let bytes = manifest.bytes
        let response = try await transport.expect([200, 201, 202], RegistryTransport.Request(
            method: .PUT, path: path(name, "manifests", reference),
            headers: [("Content-Type", manifest.mediaType), ("Content-Length", "\(bytes.count)")],
            body: { .bytes(ByteBuffer(bytes: bytes)) }, scope: .push(name)), operation: operation)
        await response.discard()
        if let answered = response.headers.first(name: "Docker-Content-Digest"), let digest = try? Digest(parsing: answered), digest != manifest.digest {
            throw StorageError(.digestInvalid, "\(operation): the registry stored it as \(digest)")
        }
        if let subject = manifest.subject, response.headers.first(name: "OCI-Subject") == nil {
            try await updateFallbackIndex(for: manifest, subject: subject, name: name)
        }
    }
}

/// Cuts one stream into consecutive bodies of given lengths, each an async sequence of buffers.
final class ChunkSource: @unchecked Sendable {
    private var iterator: ByteStreamIterator

    init(_ stream: ByteStream) { iterator = ByteStreamIterator(stream) }

    /// The next `length` bytes, as a body for one request; read lazily as the request sends them.
    func next(_ length: Int64) -> ChunkBody {
        ChunkBody(source: self, length: length)
    }

    /// Reads the end of the stream, where its verifier checks the digest: nothing may be left.
    func finish() async throws {
        if try await iterator.next() != nil { throw StorageError(.sizeInvalid, "the blob is longer than its size") }
    }

    /// Reads and drops `count` bytes (they still pass through any verifier of the stream).
    func skip(_ count: Int64) async throws {
        var left = count
        while left > 0 {
            guard let chunk = try await read(upTo: left) else { throw StorageError(.sizeInvalid, "the blob ended \(left) bytes short of its size") }
            left -= Int64(chunk.count)
        }
    }

    fileprivate func read(upTo limit: Int64) async throws -> [UInt8]? {
        guard limit > 0, var chunk = try await iterator.next() else { return nil }
        if Int64(chunk.count) > limit {
            iterator.pushBack(Array(chunk[Int(limit)...]))
            chunk = Array(chunk[..<Int(limit)])
        }
        return chunk
    }
}

/// `length` bytes of a `ChunkSource`, as a request body.
struct ChunkBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let source: ChunkSource
    let length: Int64

    struct AsyncIterator: AsyncIteratorProtocol {
        let source: ChunkSource
        var left: Int64

        mutating func next() async throws -> ByteBuffer? {
            guard left > 0 else { return nil }
            guard let chunk = try await source.read(upTo: left) else {
                throw StorageError(.sizeInvalid, "the blob ended \(left) bytes short of its size")
            }
            left -= Int64(chunk.count)
            return ByteBuffer(bytes: chunk)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(source: source, left: length) }
}
