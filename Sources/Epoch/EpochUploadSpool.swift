import FerryCore
import Foundation
import NIOCore
import OCI

/// Upload sessions of a server in front of an S3 bucket are held in the bucket: each is a
/// multipart upload of a key under `<prefix>_uploads/`, its parts sent as they arrive. When the
/// upload ends and its bytes hash to the digest, the parts become that object and the object
/// is copied, inside the bucket, to the blob's key; then it is deleted. Nothing under
/// `_uploads/` is an Epoch key: epoch and `ferry gc` never look there.
extension EpochStore: UploadSpooling {
    var uploadsPrefix: String { "\(prefix)_uploads/" }

    public func makeUploadSpool(in repository: String) async throws -> (any UploadSpool)? {
        guard let s3 = objects as? S3ObjectStore else { return nil }
        try validate(repository)
        let id = (0..<2).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 16) }.joined(separator: "-")
        return EpochUploadSpool(store: self, s3: s3, key: uploadsPrefix + id, repository: repository)
    }

    /// Aborts the multipart uploads and deletes the objects under `_uploads/` older than `age`.
    public func sweepUploadSpools(olderThan age: Duration) async throws -> Int {
        guard let s3 = objects as? S3ObjectStore else { return 0 }
        let before = Date().addingTimeInterval(-Double(age.components.seconds))
        var removed = 0
        for upload in try await s3.multipartUploads(prefix: uploadsPrefix) where upload.initiated < before {
            await s3.abortMultipart(upload.key, uploadID: upload.uploadID)
            removed += 1
        }
        for object in try await s3.list(prefix: uploadsPrefix) where object.modified < before {
            try await s3.delete(object.key)
            removed += 1
        }
        return removed
    }
}

/// One upload held as a multipart upload; used by one request at a time (a server's session).
final class EpochUploadSpool: UploadSpool, @unchecked Sendable {
    private let store: EpochStore
    private let s3: S3ObjectStore
    private let key: String
    private let repository: String
    private var uploadID: String?
    private var etags: [Int: String] = [:]
    private var hasher = DigestHasher(.sha256)
    private var size: Int64 = 0

    init(store: EpochStore, s3: S3ObjectStore, key: String, repository: String) {
        self.store = store
        self.s3 = s3
        self.key = key
        self.repository = repository
    }

    var partSize: Int { max(Int(s3.partSize), S3ObjectStore.minimumPartSize) }

    func append(part: [UInt8]) async throws {
        guard etags.count < 10_000 else {
            throw StorageError(.sizeInvalid, "\(store.displayName): an upload has 10,000 parts at most")
        }
        let id: String
        if let uploadID { id = uploadID } else { id = try await s3.startMultipart(key) }
        uploadID = id
        let number = etags.count + 1
        etags[number] = try await s3.uploadPart(ByteBuffer(bytes: part), number: number, key: key, uploadID: id)
        part.withUnsafeBytes { hasher.update($0) }
        size += Int64(part.count)
    }

    func store(as descriptor: Descriptor, last: [UInt8]) async throws {
        do {
            try await finish(as: descriptor, last: last)
        } catch {
            await discard()
            throw error
        }
        await discard()
    }

    private func finish(as descriptor: Descriptor, last: [UInt8]) async throws {
        last.withUnsafeBytes { hasher.update($0) }
        let total = size + Int64(last.count)
        guard total == descriptor.size else {
            throw StorageError(.sizeInvalid, "\(descriptor.digest): \(total) bytes where its descriptor gives \(descriptor.size)")
        }
        if descriptor.digest.algorithm == .sha256 {
            let actual = hasher.finalize()
            guard actual == descriptor.digest else {
                throw StorageError(.digestInvalid, "\(descriptor.digest): content hashes to \(actual)")
            }
        }
        guard let uploadID else {
            // Smaller than one part: stored as any blob is, never through `_uploads/`.
            try await store.pushBlob(descriptor, from: .bytes(last), in: repository)
            return
        }
        if !last.isEmpty {
            etags[etags.count + 1] = try await s3.uploadPart(ByteBuffer(bytes: last), number: etags.count + 1, key: key, uploadID: uploadID)
        }
        try await s3.completeMultipart(key, uploadID: uploadID, etags: etags)
        self.uploadID = nil
        if descriptor.digest.algorithm != .sha256 {
            // Hashed with another algorithm than the parts were: read back and checked.
            for try await _ in try await s3.get(key, range: nil).verifying(descriptor) {}
        }
        try await store.pushBlob(descriptor, copyingObject: key, using: s3, in: repository)
    }

    func discard() async {
        if let uploadID { await s3.abortMultipart(key, uploadID: uploadID) }
        uploadID = nil
        try? await s3.delete(key)
    }
}
