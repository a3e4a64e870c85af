import Foundation
import FerryCore
import HTTPTypes
import Hummingbird
import NIOCore
import OCI

extension RegistryServer {
    /// `GET`/`HEAD /v2/<name>/manifests/<reference>`: the stored bytes, verified, with their
    /// stored media type.
    func getManifest(_ name: String, _ reference: String, head: Bool) async throws -> Response {
        let repository = repository(name)
        let selector = try Self.selector(reference)
        let descriptor = try await store.resolve(selector, in: repository)
        if case .digest(let wanted) = selector, descriptor.digest != wanted {
            throw RegistryFailure(.notFound, .manifestUnknown, "no manifest \(wanted) in \(name)")
        }
        var headers: HTTPFields = [.contentType: descriptor.mediaType ?? MediaType.imageManifest,
                                   .dockerContentDigest: descriptor.digest.description]
        if head {
            headers[.contentLength] = "\(descriptor.size)"
            return Response(status: .ok, headers: headers)
        }
        let manifest = try await store.fetchManifest(descriptor, in: repository)
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: manifest.bytes)))
    }

    /// `GET`/`HEAD /v2/<name>/blobs/<digest>`, with `Range` → 206. A whole blob is verified
    /// as it streams: one that does not hash to its digest is cut off, never completed.
    /// A whole blob that is a piece of a file already verified goes out with sendfile when the
    /// connection allows it (`FileSending`).
    func getBlob(_ name: String, _ digestText: String, _ request: Request, head: Bool, channel: (any Channel)?) async throws -> Response {
        let repository = repository(name)
        let digest = try blobDigest(digestText)
        guard let size = try await store.blobSize(digest, in: repository) else {
            throw RegistryFailure(.notFound, .blobUnknown, "no blob \(digest) in \(name)")
        }
        let descriptor = Descriptor(mediaType: MediaType.octetStream, digest: digest, size: size)
        var headers: HTTPFields = [.contentType: MediaType.octetStream, .dockerContentDigest: digest.description, .acceptRanges: "bytes"]
        var range: Range<Int64>?
        if let text = request.headers[.range], !head {
            guard let wanted = ByteRange(header: text, size: size) else {
                headers[.contentRange] = "bytes */\(size)"
                throw RegistryFailure(.rangeNotSatisfiable, .blobUnknown, "range \(text) is not within the blob's \(size) bytes", headers: headers)
            }
            range = wanted.range
        }
        if head {
            headers[.contentLength] = "\(size)"
            return Response(status: .ok, headers: headers)
        }
        let stream: ByteStream
        var status = HTTPResponse.Status.ok
        if let range {
            stream = try await store.fetch(descriptor, range: range, in: repository)
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(size)"
            status = .partialContent
        } else {
            stream = try await store.fetch(descriptor, in: repository).verifying(descriptor)
        }
        let length = Int(range.map { Int64($0.count) } ?? size)
        headers[.contentLength] = "\(length)"
        // `verifying` keeps the open file only when the piece needs no hashing.
        if range == nil, let channel, let file = stream.openFile, await FileSending.available(on: channel), let fd = file.take() {
            return Response(status: status, headers: headers,
                            body: FileSending.body(fd, offset: file.piece.offset, length: file.piece.length, channel: channel, metrics: metrics))
        }
        return Response(status: status, headers: headers, body: ResponseBody(contentLength: length) { writer in
            // The last chunk goes out only once the whole blob is verified: a blob that does not
            // hash to its digest is cut off short, and no client takes it for whole.
            var held: [UInt8]?
            for try await chunk in stream {
                if let previous = held { try await writer.write(ByteBuffer(bytes: previous)) }
                held = chunk
            }
            if let last = held { try await writer.write(ByteBuffer(bytes: last)) }
            try await writer.finish(nil)
        })
    }

    /// The digest of a blob path; with Epoch's extensions a bare hex string is a SHA-256.
    func blobDigest(_ text: String) throws -> Digest {
        if let digest = try? Digest(parsing: text) { return digest }
        if options.epochExtensions, !text.contains(":"), let digest = try? Digest(parsing: "sha256:" + text) { return digest }
        throw RegistryFailure.digestInvalid(text)
    }

    /// A tag or a digest, as the spec's reference in a manifest path.
    static func selector(_ reference: String) throws -> ManifestSelector {
        if reference.contains(":") {
            guard let digest = try? Digest(parsing: reference) else { throw RegistryFailure.digestInvalid(reference) }
            return .digest(digest)
        }
        guard Names.isValidTag(reference) else {
            throw RegistryFailure(.badRequest, .manifestInvalid, "'\(reference)' is not a valid tag")
        }
        return .tag(reference)
    }
}

/// One range of a `Range: bytes=…` header (a single range: first-last, first-, or -suffix).
struct ByteRange {
    let range: Range<Int64>

    init?(header: String, size: Int64) {
        guard header.hasPrefix("bytes="), !header.contains(",") else { return nil }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash], last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            guard let suffix = Int64(last), suffix > 0, size > 0 else { return nil }
            range = max(0, size - suffix)..<size
            return
        }
        guard let start = Int64(first), start >= 0, start < size else { return nil }
        if last.isEmpty {
            range = start..<size
            return
        }
        guard let end = Int64(last), end >= start else { return nil }
        range = start..<(min(end, size - 1) + 1)
    }
}
