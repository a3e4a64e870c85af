import Foundation
import OCI
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

extension ByteStream {
    /// A stream of a file's bytes from `offset`, `length` bytes long (to the end when nil). It
    /// reads with `pread` in chunks of `ByteStream.chunkSize` and closes the file at the end.
    public static func file(at path: FilePath, offset: Int64 = 0, length: Int64? = nil) throws -> ByteStream {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(path, .readOnly, options: [.closeOnExec])
        } catch let errno as Errno {
            throw StorageError(errno == .noSuchFileOrDirectory ? .nameUnknown : .unknown, "\(path): \(errno)")
        }
        return try file(fd, path: path, offset: offset, length: length)
    }

    /// A stream of the open file `fd` from `offset`, `length` bytes long (to the end when nil);
    /// the stream owns `fd` and closes it at the end. `path` names the file in messages.
    public static func file(_ fd: FileDescriptor, path: FilePath, offset: Int64 = 0, length: Int64? = nil) throws -> ByteStream {
        var info = stat()
        guard fstat(fd.rawValue, &info) == 0 else {
            try? fd.close()
            throw StorageError(.unknown, "\(path): \(Errno(rawValue: errno))")
        }
        let total = length ?? Int64(info.st_size) - offset
        // A file shorter than expected just ends the stream: the verifier downstream reports the size.
        let reader = FileChunkReader(fd: fd, regions: [SparseSegment(offset: offset, length: total)], path: path, shortIsError: false)
        var stream = ByteStream { try await reader.next() }
        if info.st_mode & S_IFMT == S_IFREG, offset >= 0, total >= 0, offset <= Int64(info.st_size) - total {
            let piece = FilePiece(file: FileIdentity(info), offset: offset, length: total)
            stream.filePiece = piece
            stream.openFile = OpenFile(piece: piece, reader: reader)
        }
        return stream
    }

    /// A stream of `regions` of the open file `fd`, packed one after another in chunks of up to
    /// `chunkSize` (a chunk may span regions). The stream owns `fd` and closes it at the end. When
    /// the file ends early the stream ends too, or fails if `shortIsError`.
    static func regions(_ regions: [SparseSegment], of fd: FileDescriptor, path: FilePath, shortIsError: Bool) -> ByteStream {
        let reader = FileChunkReader(fd: fd, regions: regions, path: path, shortIsError: shortIsError)
        return ByteStream { try await reader.next() }
    }
}

/// The open file of a stream that is one piece of a regular file (`ByteStream.openFile`).
public final class OpenFile: Sendable {
    /// Which bytes the stream holds.
    public let piece: FilePiece
    private let reader: FileChunkReader

    fileprivate init(piece: FilePiece, reader: FileChunkReader) {
        self.piece = piece
        self.reader = reader
    }

    /// Takes the file away from the stream, which then ends at once: the caller owns the
    /// descriptor and sends `piece` itself. Nil once the stream has started reading.
    public func take() -> FileDescriptor? {
        reader.detach()
    }
}

/// Reads a list of file regions chunk by chunk; a stream is consumed by one task at a time.
private final class FileChunkReader: @unchecked Sendable {
    private var fd: FileDescriptor?
    private let regions: [SparseSegment]
    /// The region being read, and how far into it.
    private var index = 0
    private var consumed: Int64 = 0
    private let path: FilePath
    private let shortIsError: Bool
    /// Whether reading has begun (then the descriptor can no longer be handed over).
    private var started = false
    private let lock = NSLock()

    init(fd: FileDescriptor, regions: [SparseSegment], path: FilePath, shortIsError: Bool) {
        self.fd = fd
        self.regions = regions
        self.path = path
        self.shortIsError = shortIsError
    }

    func next() async throws -> [UInt8]? {
        try Task.checkCancellation()
        lock.withLock { started = true }
        // The pieces of file that make up the next chunk, and where reading resumes after them.
        var pieces: [SparseSegment] = []
        var want = 0
        var (nextIndex, nextConsumed) = (index, consumed)
        while nextIndex < regions.count, want < ByteStream.fileChunkSize {
            let region = regions[nextIndex]
            let take = min(Int64(ByteStream.fileChunkSize - want), region.length - nextConsumed)
            if take > 0 {
                pieces.append(SparseSegment(offset: region.offset + nextConsumed, length: take))
                want += Int(take)
                nextConsumed += take
            }
            if nextConsumed >= region.length { (nextIndex, nextConsumed) = (nextIndex + 1, 0) }
        }
        guard let fd, want > 0 else {
            close()
            return nil
        }
        let (path, readPieces, count) = (path, pieces, want)
        let chunk = try await BlockingIO.run { try FileChunkReader.read(fd, pieces: readPieces, count: count, path: path) }
        (index, consumed) = (nextIndex, nextConsumed)
        if chunk.count < want {
            index = regions.count
            close()
            if shortIsError {
                throw StorageError(.sizeInvalid, "\(path): the file ended before the data expected in it")
            }
            return chunk.isEmpty ? nil : chunk
        }
        return chunk
    }

    /// Reads `pieces` one after another into one buffer, stopping early at the end of the file.
    private static func read(_ fd: FileDescriptor, pieces: [SparseSegment], count: Int, path: FilePath) throws -> [UInt8] {
        var filled = 0
        return try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            defer { initialized = filled }
            for piece in pieces {
                let end = filled + Int(piece.length)
                let start = filled
                while filled < end {
                    let n: Int
                    do {
                        n = try fd.read(
                            fromAbsoluteOffset: piece.offset + Int64(filled - start),
                            into: UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[filled..<end]),
                            retryOnInterrupt: true)
                    } catch let errno as Errno {
                        throw StorageError(.unknown, "\(path): read: \(errno)")
                    }
                    if n == 0 { return }
                    filled += n
                }
            }
        }
    }

    private func close() {
        try? fd?.close()
        fd = nil
    }

    /// The descriptor, handed over before anything is read (see `OpenFile.take`).
    func detach() -> FileDescriptor? {
        lock.withLock {
            guard index == 0, consumed == 0, !started, let taken = fd else { return nil }
            fd = nil
            return taken
        }
    }

    deinit { close() }
}
