import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Writes a file from a stream of chunks so that its holes come back, as cocoon's import does:
/// with a map, the stream is the packed data and each segment goes to its offset; without one,
/// the stream is the whole file and every all-zero 4096-byte block (aligned in the file) is
/// skipped. Used by one task at a time.
public final class SparseFileWriter: @unchecked Sendable {
    /// The block whose all-zero copies become holes: cocoon's, and ext4's allocation unit.
    static let blockSize = 4096

    private let fd: Int32
    private let logicalSize: Int64
    private let segments: [SparseSegment]?
    private let expected: Int64
    /// With a map: the segment being filled, and how far into it.
    private var segmentIndex = 0
    private var segmentFilled: Int64 = 0
    /// Without a map: the start of the last, incomplete block (its offset is `bytesWritten - partial.count`).
    private var partial: [UInt8] = []

    /// Whether the target is a device written in place: zeros are written as they are (a hole
    /// would keep the device's old bytes) and the length is the device's own.
    private let inPlace: Bool

    /// Bytes taken from the stream so far (some may still wait in a partial block), for progress.
    public private(set) var bytesWritten: Int64 = 0

    /// A writer to `fd`, which the caller owns and which should be an empty file: skipped bytes
    /// are left as they are. `logicalSize` is the final length; `map` says where packed data goes.
    public init(fd: Int32, logicalSize: Int64, map: SparseMap?, inPlace: Bool = false) {
        self.fd = fd
        self.inPlace = inPlace
        self.logicalSize = logicalSize
        segments = map?.segments
        expected = map?.dataSize ?? logicalSize
        partial.reserveCapacity(Self.blockSize)
    }

    /// Places the next bytes of the stream; chunks may have any size. Fails, writing nothing of
    /// `chunk`, when it brings more bytes than the file or map holds.
    public func write(_ chunk: [UInt8]) throws {
        guard Int64(chunk.count) <= expected - bytesWritten else {
            throw StorageError(.sizeInvalid, "sparse file: more than the \(expected) bytes expected")
        }
        try chunk.withUnsafeBytes { bytes in
            if segments != nil { try writePacked(bytes) } else { try writePlain(bytes) }
        }
    }

    /// Checks that every expected byte arrived, writes what is pending and sets the file's length.
    /// It does not fsync: the caller decides when the file must be durable.
    public func finish() throws {
        guard bytesWritten == expected else {
            throw StorageError(.sizeInvalid, "sparse file: \(bytesWritten) bytes arrived where \(expected) were expected")
        }
        if !partial.isEmpty {
            let offset = bytesWritten - Int64(partial.count)
            try partial.withUnsafeBytes { try writeSkippingZeros($0, at: offset) }
            partial.removeAll()
        }
        guard inPlace || ftruncate(fd, off_t(logicalSize)) == 0 else {
            throw StorageError(.unknown, "sparse file: cannot set the length to \(logicalSize): \(Errno(rawValue: errno))")
        }
    }

    /// Packed data: each piece goes to its segment's offset as it is, zeros included, so the file
    /// gets back the map it came with.
    private func writePacked(_ bytes: UnsafeRawBufferPointer) throws {
        guard let segments else { return }
        var index = 0
        while index < bytes.count {
            while segmentIndex < segments.count, segmentFilled >= segments[segmentIndex].length {
                (segmentIndex, segmentFilled) = (segmentIndex + 1, 0)
            }
            guard segmentIndex < segments.count else {
                throw StorageError(.sizeInvalid, "sparse file: more bytes than the sparse map holds")
            }
            let segment = segments[segmentIndex]
            let count = Int(min(Int64(bytes.count - index), segment.length - segmentFilled))
            try writeAll(UnsafeRawBufferPointer(rebasing: bytes[index..<index + count]), at: segment.offset + segmentFilled)
            segmentFilled += Int64(count)
            bytesWritten += Int64(count)
            index += count
        }
    }

    /// Plain contents: whole blocks are checked in place; the pieces of a block split between
    /// chunks wait in `partial`.
    private func writePlain(_ bytes: UnsafeRawBufferPointer) throws {
        var index = 0
        if !partial.isEmpty {
            index = min(Self.blockSize - partial.count, bytes.count)
            partial.append(contentsOf: bytes[..<index])
            bytesWritten += Int64(index)
            guard partial.count == Self.blockSize else { return }
            let offset = bytesWritten - Int64(Self.blockSize)
            try partial.withUnsafeBytes { try writeSkippingZeros($0, at: offset) }
            partial.removeAll(keepingCapacity: true)
        }
        let whole = (bytes.count - index) / Self.blockSize * Self.blockSize
        if whole > 0 {
            try writeSkippingZeros(UnsafeRawBufferPointer(rebasing: bytes[index..<index + whole]), at: bytesWritten)
            bytesWritten += Int64(whole)
            index += whole
        }
        partial.append(contentsOf: bytes[index...])
        bytesWritten += Int64(bytes.count - index)
    }

    /// Writes `bytes`, which start at a block boundary `offset`, with one `pwrite` per run of
    /// blocks that are not all zero; the zero blocks stay holes.
    private func writeSkippingZeros(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        if inPlace { return try writeAll(bytes, at: offset) }
        var runStart: Int?
        var block = 0
        while block < bytes.count {
            let end = min(block + Self.blockSize, bytes.count)
            if Self.isZero(UnsafeRawBufferPointer(rebasing: bytes[block..<end])) {
                if let start = runStart {
                    try writeAll(UnsafeRawBufferPointer(rebasing: bytes[start..<block]), at: offset + Int64(start))
                    runStart = nil
                }
            } else if runStart == nil {
                runStart = block
            }
            block = end
        }
        if let start = runStart {
            try writeAll(UnsafeRawBufferPointer(rebasing: bytes[start...]), at: offset + Int64(start))
        }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                throw StorageError(.unknown, "sparse file: write at offset \(offset + Int64(done)): \(Errno(rawValue: errno))")
            }
            done += n
        }
    }

    private static func isZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let words = bytes.count / 8
        var accumulated: UInt64 = 0
        var word = 0
        // Eight words at a time without a branch each; the check between groups exits early.
        while word + 8 <= words {
            for i in word..<word + 8 { accumulated |= bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) }
            if accumulated != 0 { return false }
            word += 8
        }
        for i in word..<words { accumulated |= bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) }
        for byte in bytes[(words * 8)...] { accumulated |= UInt64(byte) }
        return accumulated == 0
    }
}
