import CFerrySystem
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// One run of data in a sparse file (`{"o":…,"l":…}` in cocoon's map); also any file region
/// that a stream reads.
public struct SparseSegment: Sendable, Equatable {
    /// Where the run starts in the file.
    public var offset: Int64
    /// How many bytes it holds.
    public var length: Int64

    /// A run of `length` bytes at `offset`.
    public init(offset: Int64, length: Int64) {
        self.offset = offset
        self.length = length
    }
}

/// Where a file's data lies (cocoon's `COCOON.sparse.map`), so that a 16 GiB disk holding
/// 64 MiB of data costs 64 MiB to read, hash, carry and write back.
public struct SparseMap: Sendable, Equatable {
    /// The runs of data, in file order, neither overlapping nor touching once scanned.
    public var segments: [SparseSegment]
    /// The file's length, holes included (`COCOON.sparse.size`).
    public var logicalSize: Int64

    /// A map as given; `init(jsonText:logicalSize:)` is the one that checks.
    public init(segments: [SparseSegment], logicalSize: Int64) {
        self.segments = segments
        self.logicalSize = logicalSize
    }

    /// The bytes that travel: what a sparse tar entry or layer holds.
    public var dataSize: Int64 { segments.reduce(0) { $0 + $1.length } }

    /// Whether the holes save anything; cocoon writes a plain entry when they do not.
    public var isSparse: Bool { dataSize < logicalSize }

    /// Finds the data of the file at `path` with `lseek(SEEK_DATA/SEEK_HOLE)`, so that reading it
    /// skips the holes. A file system that cannot tell reports the whole file as data.
    public static func scan(_ path: FilePath) throws -> SparseMap {
        let fd = try FileSystem.open(path, .readOnly)
        defer { try? fd.close() }
        return try scan(fd, path: path)
    }

    /// The same for a file already open (the seek position moves); `path` names it in errors.
    public static func scan(_ fd: FileDescriptor, path: FilePath) throws -> SparseMap {
        var info = stat()
        guard fstat(fd.rawValue, &info) == 0 else { throw FileSystem.failure(path, "stat") }
        let size = Int64(info.st_size)
        var segments: [SparseSegment] = []
        var position: Int64 = 0
        while position < size {
            let data = ferry_seek_data(fd.rawValue, position)
            if data < 0 {
                if errno == ENXIO { break }
                if errno == EINVAL { return SparseMap(segments: [SparseSegment(offset: 0, length: size)], logicalSize: size) }
                throw FileSystem.failure(path, "seek to data")
            }
            guard data < size else { break }
            let hole = ferry_seek_hole(fd.rawValue, data)
            guard hole > data else { throw FileSystem.failure(path, "seek to a hole") }
            let end = min(hole, size)
            if let last = segments.last, last.offset + last.length == data {
                segments[segments.count - 1].length = end - last.offset
            } else {
                segments.append(SparseSegment(offset: data, length: end - data))
            }
            position = end
        }
        return SparseMap(segments: segments, logicalSize: size)
    }

    /// The `COCOON.sparse.map` value, byte for byte as Go marshals it: compact, `o` before `l`,
    /// and `null` for no segments (a nil slice).
    public var jsonText: String {
        guard !segments.isEmpty else { return "null" }
        var text = "["
        for (index, segment) in segments.enumerated() {
            if index > 0 { text += "," }
            text += "{\"o\":" + String(segment.offset) + ",\"l\":" + String(segment.length) + "}"
        }
        return text + "]"
    }

    /// Reads a `COCOON.sparse.map` value for a file of `logicalSize` bytes, refusing a map that
    /// would write outside the file or twice over the same bytes.
    public init(jsonText: String, logicalSize: Int64) throws {
        guard logicalSize >= 0 else { throw StorageError(.unknown, "sparse map: negative file size \(logicalSize)") }
        var parser = SparseMapParser(Array(jsonText.utf8))
        let segments = try parser.parse()
        var end: Int64 = 0
        for (index, segment) in segments.enumerated() {
            let (o, l) = (segment.offset, segment.length)
            guard o >= 0, l >= 0 else { throw StorageError(.unknown, "sparse map: segment \(index) (o=\(o), l=\(l)) is negative") }
            guard o >= end else {
                throw StorageError(.unknown, "sparse map: segment \(index) (o=\(o), l=\(l)) overlaps or precedes the one before")
            }
            guard o <= logicalSize, l <= logicalSize - o else {
                throw StorageError(.unknown, "sparse map: segment \(index) (o=\(o), l=\(l)) runs past the file size \(logicalSize)")
            }
            end = o + l
        }
        self.init(segments: segments, logicalSize: logicalSize)
    }
}

extension ByteStream {
    /// The data segments of a sparse file packed one after another in map order (the body of a
    /// sparse entry), read with `pread` in chunks of up to `chunkSize`; holes cost nothing.
    public static func sparseData(at path: FilePath, map: SparseMap) throws -> ByteStream {
        sparseData(try FileSystem.open(path, .readOnly), path: path, map: map)
    }

    /// The same from a file already open; the stream owns `fd`.
    public static func sparseData(_ fd: FileDescriptor, path: FilePath, map: SparseMap) -> ByteStream {
        regions(map.segments, of: fd, path: path, shortIsError: true)
    }
}

/// Parses the little JSON of a sparse map: `null`, or an array of objects with integer `o`
/// and `l` in either order.
private struct SparseMapParser {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func parse() throws -> [SparseSegment] {
        var segments: [SparseSegment] = []
        if consume("null") {
            try expectEnd()
            return segments
        }
        try expect(UInt8(ascii: "["))
        if !consume("]") {
            repeat { segments.append(try segment(segments.count)) } while consume(",")
            try expect(UInt8(ascii: "]"))
        }
        try expectEnd()
        return segments
    }

    private mutating func segment(_ index: Int) throws -> SparseSegment {
        try expect(UInt8(ascii: "{"))
        var (offset, length): (Int64?, Int64?) = (nil, nil)
        if !consume("}") {
            repeat {
                let key = try string()
                try expect(UInt8(ascii: ":"))
                let value = try integer()
                switch key {
                case "o" where offset == nil: offset = value
                case "l" where length == nil: length = value
                default: throw failure("segment \(index) has an unexpected or repeated key \"\(key)\"")
                }
            } while consume(",")
            try expect(UInt8(ascii: "}"))
        }
        guard let offset, let length else { throw failure("segment \(index) is not {\"o\":OFFSET,\"l\":LENGTH}") }
        return SparseSegment(offset: offset, length: length)
    }

    private mutating func string() throws -> String {
        try expect(UInt8(ascii: "\""))
        let start = position
        while position < bytes.count, bytes[position] != UInt8(ascii: "\"") {
            guard bytes[position] != UInt8(ascii: "\\") else { throw failure("escapes in keys are not expected") }
            position += 1
        }
        try expect(UInt8(ascii: "\""))
        return String(decoding: bytes[start..<position - 1], as: UTF8.self)
    }

    private mutating func integer() throws -> Int64 {
        skipSpace()
        let negative = position < bytes.count && bytes[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        let start = position
        var value: Int64 = 0
        while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int64(bytes[position] - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { throw failure("a number is too large") }
            value = sum
            position += 1
        }
        guard position > start else { throw failure("expected an integer at byte \(start)") }
        if position < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[position]) {
            throw failure("expected an integer at byte \(start)")
        }
        return negative ? -value : value
    }

    private mutating func consume(_ token: String) -> Bool {
        skipSpace()
        let token = Array(token.utf8)
        guard bytes[position...].starts(with: token) else { return false }
        position += token.count
        return true
    }

    private mutating func expect(_ byte: UInt8) throws {
        skipSpace()
        guard position < bytes.count, bytes[position] == byte else {
            throw failure("expected '\(Character(Unicode.Scalar(byte)))' at byte \(position)")
        }
        position += 1
    }

    private mutating func expectEnd() throws {
        skipSpace()
        guard position == bytes.count else { throw failure("unexpected text at byte \(position)") }
    }

    private mutating func skipSpace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    private func failure(_ problem: String) -> StorageError {
        StorageError(.unknown, "sparse map: not valid JSON of segments: \(problem)")
    }
}
