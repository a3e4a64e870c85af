import Foundation
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

extension ByteStream {
    /// The data runs of a sparse file, packed one after the other in map order: what a sparse
    /// layer holds. Reads only the runs, in chunks of up to `ByteStream.chunkSize`.
    public static func sparseData(at path: FilePath, map: SparseMap) throws -> ByteStream {
        let fd = open(path.string, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError(.unknown, "\(path): \(Errno(rawValue: errno))") }
        let reader = RegionReader(fd: fd, regions: map.segments, path: path.string)
        return ByteStream { try await reader.next() }
    }
}

/// Reads a list of file regions chunk by chunk, then closes the file; one task at a time.
private final class RegionReader: @unchecked Sendable {
    private var fd: Int32
    private var regions: ArraySlice<SparseSegment>
    private let path: String

    init(fd: Int32, regions: [SparseSegment], path: String) {
        self.fd = fd
        self.regions = regions[...]
        self.path = path
    }

    func next() async throws -> [UInt8]? {
        try Task.checkCancellation()
        while let region = regions.first, region.length == 0 { regions.removeFirst() }
        guard fd >= 0, let region = regions.first else {
            closeFile()
            return nil
        }
        let count = Int(min(Int64(ByteStream.chunkSize), region.length))
        let (fd, path) = (self.fd, self.path)
        let chunk = try await BlockingIO.run { () -> [UInt8] in
            try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                initialized = 0
                while initialized < count {
                    let n = pread(fd, buffer.baseAddress! + initialized, count - initialized, off_t(region.offset) + off_t(initialized))
                    if n < 0, errno == EINTR { continue }
                    guard n > 0 else { throw StorageError(.unknown, "\(path): shorter than its sparse map says") }
                    initialized += n
                }
            }
        }
        regions[regions.startIndex] = SparseSegment(offset: region.offset + Int64(count), length: region.length - Int64(count))
        return chunk
    }

    private func closeFile() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit { closeFile() }
}

/// Writes a file from a stream so that it is sparse again. With a map the stream is the packed
/// data runs, each written at its offset (so the file has that map again); without one it is the whole file, and every all-zero
/// 4 KiB block is skipped (a hole), as cocoon's import does. One task uses a writer at a time.
public final class SparseFileWriter: @unchecked Sendable {
    private let fd: Int32
    private let logicalSize: Int64
    private var segments: ArraySlice<SparseSegment>
    private let map: SparseMap?
    /// Where the next plain byte goes.
    private var position: Int64 = 0
    /// Bytes accepted so far.
    public private(set) var bytesWritten: Int64 = 0

    static let blockSize = 4096

    /// Writes to `fd` (owned by the caller) a file of `logicalSize` bytes.
    public init(fd: Int32, logicalSize: Int64, map: SparseMap?) {
        self.fd = fd
        self.logicalSize = logicalSize
        self.map = map
        segments = (map?.segments ?? [])[...]
    }

    /// Places the next bytes of the stream.
    public func write(_ chunk: [UInt8]) throws {
        let expected = map?.dataSize ?? logicalSize
        guard bytesWritten + Int64(chunk.count) <= expected else {
            throw StorageError(.sizeInvalid, "more bytes than the \(expected) expected")
        }
        try chunk.withUnsafeBytes { bytes in
            var consumed = 0
            while consumed < bytes.count {
                if map != nil {
                    while let first = segments.first, first.length == 0 { segments.removeFirst() }
                    guard let segment = segments.first else { throw StorageError(.sizeInvalid, "more bytes than the sparse map holds") }
                    let count = Int(min(Int64(bytes.count - consumed), segment.length))
                    // Runs are written as they are, zeros included, so the file keeps the map it came with.
                    try writeAll(UnsafeRawBufferPointer(rebasing: bytes[consumed..<consumed + count]), at: segment.offset)
                    segments[segments.startIndex] = SparseSegment(offset: segment.offset + Int64(count), length: segment.length - Int64(count))
                    consumed += count
                } else {
                    try writeSkippingZeros(UnsafeRawBufferPointer(rebasing: bytes[consumed...]), at: position)
                    position += Int64(bytes.count - consumed)
                    consumed = bytes.count
                }
            }
        }
        bytesWritten += Int64(chunk.count)
    }

    /// Checks that every byte arrived and sets the file's length.
    public func finish() throws {
        let expected = map?.dataSize ?? logicalSize
        guard bytesWritten == expected else {
            throw StorageError(.sizeInvalid, "\(bytesWritten) bytes where \(expected) were expected")
        }
        guard ftruncate(fd, off_t(logicalSize)) == 0 else { throw StorageError(.unknown, "cannot set the file size: \(Errno(rawValue: errno))") }
    }

    /// Writes `bytes` at `offset`, one `pwrite` per run of blocks (aligned to the file) that are
    /// not all zero; zero blocks stay holes.
    private func writeSkippingZeros(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var start = 0
        var runStart: Int?
        while start < bytes.count {
            let blockEnd = Int((offset + Int64(start)) / Int64(Self.blockSize) + 1) * Self.blockSize - Int(offset)
            let end = min(bytes.count, blockEnd)
            let zero = Self.isZero(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
            if zero, let from = runStart {
                try writeAll(UnsafeRawBufferPointer(rebasing: bytes[from..<start]), at: offset + Int64(from))
                runStart = nil
            } else if !zero, runStart == nil {
                runStart = start
            }
            start = end
        }
        if let from = runStart { try writeAll(UnsafeRawBufferPointer(rebasing: bytes[from...]), at: offset + Int64(from)) }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw StorageError(.unknown, "cannot write: \(Errno(rawValue: errno))") }
            done += n
        }
    }

    private static func isZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let words = bytes.count / 8
        while index < words {
            if bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self) != 0 { return false }
            index += 1
        }
        for byte in bytes[(words * 8)...] where byte != 0 { return false }
        return true
    }
}
