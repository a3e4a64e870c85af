import AsyncHTTPClient
import FerryCore
import Foundation
import NIOCore
import NIOHTTP1

/// S3's multipart operations, for uploads that go up in parts as they arrive and objects
/// copied inside the bucket (an upload spool made a blob without sending it again).
extension S3ObjectStore {
    /// The smallest part S3 takes before the last one.
    public static let minimumPartSize = 5 << 20
    /// The largest object one CopyObject copies; larger ones are copied in parts.
    static let maximumCopySize: Int64 = 5 << 30

    /// Starts a multipart upload of `key`; nothing is visible until it completes.
    func startMultipart(_ key: String) async throws -> String {
        let created = try await send(.POST, key: key, query: [("uploads", "")])
        let answer = String(buffer: try await created.body.collect(upTo: 1 << 20))
        guard (200..<300).contains(created.status.code), let uploadID = Self.element("UploadId", in: answer) else {
            throw StorageError(.unknown, "\(displayName): cannot start a multipart upload of \(key): HTTP \(created.status.code)")
        }
        return uploadID
    }

    /// Part `number` of the upload, copied from `range` of the object `source` in the bucket.
    func uploadPartCopy(from source: String, range: Range<Int64>, number: Int, key: String, uploadID: String) async throws -> String {
        let response = try await send(.PUT, key: key, query: [("partNumber", "\(number)"), ("uploadId", uploadID)],
                                      headers: [("x-amz-copy-source", copySource(source)),
                                                ("x-amz-copy-source-range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)")])
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard (200..<300).contains(response.status.code), !text.contains("<Error>"), let etag = Self.element("ETag", in: text) else {
            throw StorageError(.unknown, "\(displayName): cannot copy part \(number) of \(key): \(Self.element("Code", in: text) ?? "HTTP \(response.status.code)")")
        }
        return etag.replacingOccurrences(of: "&quot;", with: "\"")
    }

    /// Makes the parts one object: it appears whole, at once.
    func completeMultipart(_ key: String, uploadID: String, etags: [Int: String]) async throws {
        let parts = etags.keys.sorted().map { "<Part><PartNumber>\($0)</PartNumber><ETag>\(etags[$0]!)</ETag></Part>" }.joined()
        let body = Array("<CompleteMultipartUpload>\(parts)</CompleteMultipartUpload>".utf8)
        let completed = try await send(.POST, key: key, query: [("uploadId", uploadID)], body: { .bytes(body) },
                                       payloadHash: SigV4Signer.hex(SHA256Hasher.hash(body)))
        let text = String(buffer: try await completed.body.collect(upTo: 1 << 20))
        // S3 can answer 200 with an error in the body.
        guard (200..<300).contains(completed.status.code), !text.contains("<Error>") else {
            throw StorageError(.unknown, "\(displayName): cannot complete the upload of \(key): \(Self.element("Code", in: text) ?? "HTTP \(completed.status.code)")")
        }
    }

    /// Drops an upload and its parts. In a task of its own, so that an interrupted (cancelled)
    /// caller still aborts; a failure leaves the upload for `sweepMultipartUploads`.
    func abortMultipart(_ key: String, uploadID: String) async {
        _ = try? await Task { try await send(.DELETE, key: key, query: [("uploadId", uploadID)]) }.value
    }

    /// Copies the object `source` to `key` inside the bucket, the bytes never leaving the
    /// server: one CopyObject up to 5 GiB, parts copied from ranges beyond.
    func copyObject(from source: String, to key: String, size: Int64) async throws {
        if size <= Self.maximumCopySize {
            let response = try await send(.PUT, key: key, headers: [("x-amz-copy-source", copySource(source))])
            let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
            guard (200..<300).contains(response.status.code), !text.contains("<Error>") else {
                throw StorageError(.unknown, "\(displayName): cannot copy \(source) to \(key): \(Self.element("Code", in: text) ?? "HTTP \(response.status.code)")")
            }
            return
        }
        let uploadID = try await startMultipart(key)
        do {
            var etags: [Int: String] = [:]
            var start: Int64 = 0
            while start < size {
                let end = min(start + Self.maximumCopySize, size)
                etags[etags.count + 1] = try await uploadPartCopy(from: source, range: start..<end, number: etags.count + 1, key: key, uploadID: uploadID)
                start = end
            }
            try await completeMultipart(key, uploadID: uploadID, etags: etags)
        } catch {
            await abortMultipart(key, uploadID: uploadID)
            throw error
        }
    }

    /// The multipart uploads in progress under `prefix`: key, id, and when each began.
    func multipartUploads(prefix: String) async throws -> [(key: String, uploadID: String, initiated: Date)] {
        var found: [(key: String, uploadID: String, initiated: Date)] = []
        var markers: (key: String, upload: String)?
        var pages = 0
        repeat {
            var query = [("uploads", ""), ("prefix", prefix)]
            if let markers { query += [("key-marker", markers.key), ("upload-id-marker", markers.upload)] }
            let response = try await send(.GET, key: nil, query: query)
            guard (200..<300).contains(response.status.code) else { throw await failure(response, "LIST uploads", key: prefix) }
            let text = String(buffer: try await response.body.collect(upTo: 16 << 20))
            for block in text.components(separatedBy: "<Upload>").dropFirst() {
                guard let key = Self.element("Key", in: block), let id = Self.element("UploadId", in: block) else { continue }
                let initiated = Self.element("Initiated", in: block).flatMap(Self.isoDate) ?? Date()
                found.append((key, id, initiated))
            }
            pages += 1
            if Self.element("IsTruncated", in: text) == "true", let key = Self.element("NextKeyMarker", in: text),
               let upload = Self.element("NextUploadIdMarker", in: text), pages < 1_000, (key, upload) != (markers?.key, markers?.upload) {
                markers = (key, upload)
            } else {
                markers = nil
            }
        } while markers != nil
        return found
    }

    /// An S3 time (`2026-12-03T20:24:44.928Z`, fractions optional).
    static func isoDate(_ text: String) -> Date? {
        (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))) ?? (try? Date(text, strategy: .iso8601))
    }

    /// `x-amz-copy-source`: the bucket and the key, URI-encoded.
    private func copySource(_ key: String) -> String {
        "/\(SigV4Signer.uriEncode(config.bucket, encodeSlash: true))/\(SigV4Signer.uriEncode(key, encodeSlash: false))"
    }
}
