import OCI

/// Checks bytes against a descriptor while they stream: it counts and hashes each chunk, fails
/// with `SIZE_INVALID` as soon as there are too many bytes, and at the end with `SIZE_INVALID` or
/// `DIGEST_INVALID` when the total or the hash differ.
public struct BlobVerifier {
    public let expected: Descriptor
    private var hasher: DigestHasher
    /// The number of bytes seen so far.
    public private(set) var count: Int64 = 0

    public init(expecting descriptor: Descriptor) {
        expected = descriptor
        hasher = DigestHasher(descriptor.digest.algorithm)
    }

    /// Counts and hashes one chunk.
    public mutating func update(_ chunk: [UInt8]) throws {
        count += Int64(chunk.count)
        guard count <= expected.size else {
            throw StorageError(.sizeInvalid, "\(expected.digest): more than the \(expected.size) bytes its descriptor gives")
        }
        chunk.withUnsafeBytes { hasher.update($0) }
    }

    /// Checks the total size and the digest.
    public func finish() throws {
        guard count == expected.size else {
            throw StorageError(.sizeInvalid, "\(expected.digest): \(count) bytes where its descriptor gives \(expected.size)")
        }
        let actual = hasher.finalize()
        guard actual == expected.digest else {
            throw StorageError(.digestInvalid, "\(expected.digest): content hashes to \(actual)")
        }
    }
}

extension ByteStream {
    /// The same bytes, checked against `descriptor` as they pass: too many bytes fail at once, and
    /// a wrong total or digest fails in place of the end of the stream, so a consumer that
    /// commits only at the end (a file renamed into place, an object store's put) never commits
    /// bad bytes. This is the one place where content is held to its digest: the copy engine
    /// checks every blob it moves with it, and a destination calls it too, which costs nothing
    /// when the stream is already checked against the same digest and size.
    public func verifying(_ descriptor: Descriptor) -> ByteStream {
        if let checked = checkedAgainst, checked.digest == descriptor.digest, checked.size == descriptor.size { return self }
        let piece = filePiece
        if let piece, piece.length == descriptor.size, VerifiedFiles.shared.contains(piece, descriptor.digest) {
            var stream = self
            stream.checkedAgainst = (descriptor.digest, descriptor.size)
            return stream
        }
        let state = VerifyingState(descriptor)
        let upstream = IteratorBox(makeAsyncIterator())
        var stream = ByteStream {
            // Every blob a copy moves passes here: an interrupted copy stops at its next chunk.
            try Task.checkCancellation()
            guard let chunk = try await upstream.next() else {
                try state.verifier.finish()
                if let piece { VerifiedFiles.shared.insert(piece, descriptor.digest) }
                return nil
            }
            try state.verifier.update(chunk)
            return chunk
        }
        stream.checkedAgainst = (descriptor.digest, descriptor.size)
        return stream
    }
}

/// A verifier shared by one stream's closures; a stream is consumed by one task at a time.
private final class VerifyingState: @unchecked Sendable {
    var verifier: BlobVerifier
    init(_ descriptor: Descriptor) { verifier = BlobVerifier(expecting: descriptor) }
}

/// An iterator shared by one stream's closures.
private final class IteratorBox: @unchecked Sendable {
    private var iterator: ByteStream.AsyncIterator
    init(_ iterator: ByteStream.AsyncIterator) { self.iterator = iterator }
    func next() async throws -> [UInt8]? { try await iterator.next() }
}
