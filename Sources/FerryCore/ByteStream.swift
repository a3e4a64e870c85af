import OCI

/// A single-pass stream of byte chunks: how every blob and manifest body travels between
/// backends. Nothing holds a whole blob in memory; each chunk is at most `chunkSize` bytes.
public struct ByteStream: AsyncSequence, Sendable {
    public typealias Element = [UInt8]

    /// The chunk size readers use (1 MiB: few system calls, little memory per blob in flight).
    public static let chunkSize = 1 << 20

    /// The chunk size of file streams: `chunkSize`, unless a process that sends many files at
    /// once (a server) sets it smaller, once, at start, so that its chunks come from the heap
    /// and are reused rather than mapped and unmapped for each one.
    nonisolated(unsafe) public static var fileChunkSize = chunkSize

    private let produce: @Sendable () async throws -> [UInt8]?

    /// The digest and size this stream is already checked against (`verifying(_:)`), carried
    /// through wrappers that pass the bytes unchanged, so that the check runs once.
    public internal(set) var checkedAgainst: (digest: Digest, size: Int64)?

    /// The piece of a file whose content this stream is, as the file was when opened: a piece
    /// verified once need not be hashed again while the file is unchanged (`VerifiedFiles`).
    public internal(set) var filePiece: FilePiece?

    /// The open file behind a stream that reads one piece of a regular file and nothing else,
    /// for a consumer that can send it better itself (a server's `sendfile`). Set only on the
    /// file stream itself and kept by `verifying(_:)` when it needs no hashing: never on a
    /// stream that does something with the bytes.
    public internal(set) var openFile: OpenFile?

    /// A stream whose chunks come from successive calls of `next`, until it returns nil.
    public init(_ next: @escaping @Sendable () async throws -> [UInt8]?) {
        produce = next
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate let produce: @Sendable () async throws -> [UInt8]?
        public mutating func next() async throws -> [UInt8]? {
            while let chunk = try await produce() {
                if !chunk.isEmpty { return chunk }
            }
            return nil
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(produce: produce) }

    /// A stream of the given bytes, cut into chunks.
    public static func bytes(_ bytes: [UInt8], chunkSize: Int = ByteStream.chunkSize) -> ByteStream {
        let cursor = Cursor()
        return ByteStream {
            let start = cursor.advance(by: chunkSize, limit: bytes.count)
            guard start < bytes.count else { return nil }
            return Array(bytes[start..<Swift.min(start + chunkSize, bytes.count)])
        }
    }

    /// A stream that calls `observe` with each chunk before passing it on.
    public func observing(_ observe: @escaping @Sendable ([UInt8]) -> Void) -> ByteStream {
        let upstream = produce
        var stream = ByteStream {
            let chunk = try await upstream()
            if let chunk { observe(chunk) }
            return chunk
        }
        stream.checkedAgainst = checkedAgainst
        stream.filePiece = filePiece
        return stream
    }

    /// A stream that reads one chunk ahead on its own task, so that reading the next chunk
    /// overlaps whatever the consumer does with this one (hashing, writing).
    public func prefetching() -> ByteStream {
        let upstream = produce
        let ahead = ReadAhead()
        var stream = ByteStream {
            // The read-ahead runs in a task of its own, which a cancelled consumer does not
            // cancel: the consumer checks, and stops the read-ahead.
            if Task.isCancelled {
                ahead.task?.cancel()
                throw CancellationError()
            }
            let pending = ahead.task ?? Task { try await upstream() }
            let chunk = try await pending.value
            ahead.task = chunk == nil ? nil : Task { try await upstream() }
            return chunk
        }
        stream.checkedAgainst = checkedAgainst
        stream.filePiece = filePiece
        return stream
    }

    /// The bytes at `range` of this stream: those before are read and dropped, the stream ends
    /// after the last one.
    public func slice(_ range: Range<Int64>) -> ByteStream {
        let upstream = produce
        let cursor = Cursor()
        return ByteStream {
            while true {
                let position = Int64(cursor.current)
                guard position < range.upperBound, let chunk = try await upstream() else { return nil }
                cursor.move(by: chunk.count)
                let end = position + Int64(chunk.count)
                guard end > range.lowerBound else { continue }
                let from = Int(Swift.max(range.lowerBound - position, 0))
                let to = Int(Swift.min(range.upperBound, end) - position)
                return from == 0 && to == chunk.count ? chunk : Array(chunk[from..<to])
            }
        }
    }

    /// Reads the whole stream, failing with `SIZE_INVALID` once it passes `limit` bytes.
    public func collect(upTo limit: Int, what: @autoclosure () -> String) async throws -> [UInt8] {
        var result = [UInt8]()
        for try await chunk in self {
            guard result.count + chunk.count <= limit else {
                throw StorageError(.sizeInvalid, "\(what()): larger than \(limit) bytes")
            }
            result += chunk
        }
        return result
    }
}

/// A position shared by the closures of one stream; a stream is consumed by one task at a time.
private final class Cursor: @unchecked Sendable {
    private var position = 0
    var current: Int { position }
    func move(by step: Int) { position += step }
    func advance(by step: Int, limit: Int) -> Int {
        let start = position
        position = min(position + step, limit)
        return start
    }
}

/// The chunk being read ahead; a stream is consumed by one task at a time.
private final class ReadAhead: @unchecked Sendable {
    var task: Task<[UInt8]?, Error>?
}
