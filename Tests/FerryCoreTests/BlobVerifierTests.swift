import OCI
import Testing

@testable import FerryCore

@Suite("BlobVerifier")
struct BlobVerifierTests {
    let content = Array("hello, ferry".utf8)
    var descriptor: Descriptor {
        Descriptor(mediaType: MediaType.octetStream, digest: Digest.compute(content), size: Int64(content.count))
    }

    @Test func acceptsMatchingContentInChunks() throws {
        var verifier = BlobVerifier(expecting: descriptor)
        try verifier.update(Array(content[0..<5]))
        try verifier.update([])
        try verifier.update(Array(content[5...]))
        #expect(verifier.count == Int64(content.count))
        try verifier.finish()
    }

    @Test func acceptsEmptyBlob() throws {
        let verifier = BlobVerifier(
            expecting: Descriptor(mediaType: MediaType.emptyJSON, digest: Digest.compute([UInt8]()), size: 0))
        try verifier.finish()
    }

    @Test func sha512Descriptors() throws {
        let d = Descriptor(mediaType: MediaType.octetStream, digest: Digest.compute(content, algorithm: .sha512), size: Int64(content.count))
        var verifier = BlobVerifier(expecting: d)
        try verifier.update(content)
        try verifier.finish()
    }

    @Test func tooManyBytesFailsEarly() throws {
        var verifier = BlobVerifier(expecting: descriptor)
        try verifier.update(content)
        // The very next byte fails at update, not at finish.
        let error = #expect(throws: StorageError.self) { try verifier.update([0x21]) }
        #expect(error?.code == .sizeInvalid)
        #expect(error?.message.contains(descriptor.digest.description) == true)
    }

    @Test func oversizedFirstChunkFails() {
        var verifier = BlobVerifier(expecting: descriptor)
        let error = #expect(throws: StorageError.self) { try verifier.update(content + [0]) }
        #expect(error?.code == .sizeInvalid)
    }

    @Test func shortContentFailsAtFinish() throws {
        var verifier = BlobVerifier(expecting: descriptor)
        try verifier.update(Array(content.dropLast()))
        let error = #expect(throws: StorageError.self) { try verifier.finish() }
        #expect(error?.code == .sizeInvalid)
        #expect(error?.message.contains("\(content.count - 1) bytes") == true)
    }

    @Test func nothingAtAllIsShort() {
        let verifier = BlobVerifier(expecting: descriptor)
        let error = #expect(throws: StorageError.self) { try verifier.finish() }
        #expect(error?.code == .sizeInvalid)
    }

    @Test func wrongDigestFailsAtFinish() throws {
        var verifier = BlobVerifier(expecting: descriptor)
        var other = content
        other[0] = UInt8(ascii: "H")
        try verifier.update(other)
        let error = #expect(throws: StorageError.self) { try verifier.finish() }
        #expect(error?.code == .digestInvalid)
        #expect(error?.message.contains(Digest.compute(other).description) == true)
    }

    @Test func wrongAlgorithmContentFails() throws {
        // A sha512 descriptor whose hex happens to be the sha512 of other bytes.
        let d = Descriptor(
            mediaType: MediaType.octetStream, digest: Digest.compute(Array("other bytes!".utf8), algorithm: .sha512),
            size: Int64(content.count))
        var verifier = BlobVerifier(expecting: d)
        try verifier.update(content)
        let error = #expect(throws: StorageError.self) { try verifier.finish() }
        #expect(error?.code == .digestInvalid)
    }
}

@Suite("ByteStream")
struct ByteStreamTests {
    @Test func bytesAreCutIntoChunks() async throws {
        let bytes = (0..<25).map { UInt8($0) }
        var chunks = [[UInt8]]()
        for try await chunk in ByteStream.bytes(bytes, chunkSize: 10) { chunks.append(chunk) }
        #expect(chunks.map(\.count) == [10, 10, 5])
        #expect(chunks.flatMap { $0 } == bytes)
    }

    @Test func emptyStreamHasNoChunks() async throws {
        var count = 0
        for try await _ in ByteStream.bytes([]) { count += 1 }
        #expect(count == 0)
    }

    @Test func emptyChunksAreSkipped() async throws {
        let produced = Locked([[1, 2], [], [3], [], []] as [[UInt8]])
        let stream = ByteStream {
            produced.withValue { $0.isEmpty ? nil : $0.removeFirst() }
        }
        var chunks = [[UInt8]]()
        for try await chunk in stream { chunks.append(chunk) }
        #expect(chunks == [[1, 2], [3]])
    }

    @Test func collectRespectsLimit() async throws {
        let bytes = [UInt8](repeating: 7, count: 100)
        #expect(try await ByteStream.bytes(bytes, chunkSize: 30).collect(upTo: 100, what: "x") == bytes)
        let error = await #expect(throws: StorageError.self) {
            try await ByteStream.bytes(bytes, chunkSize: 30).collect(upTo: 99, what: "the thing")
        }
        #expect(error?.code == .sizeInvalid)
        #expect(error?.message.contains("the thing") == true)
    }

    @Test func observingSeesEveryChunk() async throws {
        let seen = Locked(0)
        let stream = ByteStream.bytes([UInt8](repeating: 1, count: 50), chunkSize: 20).observing { chunk in
            seen.withValue { $0 += chunk.count }
        }
        let collected = try await stream.collect(upTo: 50, what: "x")
        #expect(collected.count == 50)
        #expect(seen.current == 50)
    }

    @Test func errorsPropagate() async {
        struct Boom: Error {}
        let stream = ByteStream { throw Boom() }
        await #expect(throws: Boom.self) { _ = try await stream.collect(upTo: 10, what: "x") }
    }
}

@Suite("ErrorCode")
struct ErrorCodeTests {
    @Test func rawValuesAndStatuses() {
        #expect(ErrorCode.digestInvalid.rawValue == "DIGEST_INVALID")
        #expect(ErrorCode.sizeInvalid.rawValue == "SIZE_INVALID")
        #expect(ErrorCode.tooManyRequests.rawValue == "TOOMANYREQUESTS")
        #expect(ErrorCode.blobUnknown.httpStatus == 404)
        #expect(ErrorCode.manifestUnknown.httpStatus == 404)
        #expect(ErrorCode.digestInvalid.httpStatus == 400)
        #expect(ErrorCode.unauthorized.httpStatus == 401)
        #expect(ErrorCode.denied.httpStatus == 403)
        #expect(ErrorCode.unsupported.httpStatus == 415)
        #expect(ErrorCode.tooManyRequests.httpStatus == 429)
        #expect(ErrorCode.unknown.httpStatus == 500)
        let error = StorageError(.nameInvalid, "bad name")
        #expect(error.description == "bad name")
    }
}
