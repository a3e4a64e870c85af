import Foundation
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// `SEEK_DATA` and `SEEK_HOLE` (Linux values): Glibc's module leaves them out without _GNU_SOURCE.
private let seekData: Int32 = 3
private let seekHole: Int32 = 4

/// One run of data in a sparse file.
public struct SparseSegment: Sendable, Equatable {
    public var offset: Int64
    public var length: Int64

    public init(offset: Int64, length: Int64) {
        self.offset = offset
        self.length = length
    }
}

/// Where a file's data is: what cocoon records as `COCOON.sparse.map`, so that a 16 GiB disk
/// holding 64 MiB of data costs 64 MiB to read, hash and carry.
public struct SparseMap: Sendable, Equatable {
    /// The data runs, in file order, not overlapping.
    public var segments: [SparseSegment]
    /// The file's length, holes included.
    public var logicalSize: Int64

    public init(segments: [SparseSegment], logicalSize: Int64) {
        self.segments = segments
        self.logicalSize = logicalSize
    }

    /// The bytes the runs hold.
    public var dataSize: Int64 { segments.reduce(0) { $0 + $1.length } }

    /// Whether the file has holes at all.
    public var isSparse: Bool { dataSize < logicalSize }

    /// Finds the data of the file at `path` with `lseek(SEEK_DATA/seekHole)`. A file system
    /// without hole support reports the whole file as data.
    public static func scan(_ path: FilePath) throws -> SparseMap {
        let fd = open(path.string, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError(.unknown, "\(path): \(Errno(rawValue: errno))") }
        defer { close(fd) }
        return try scan(fd: fd, what: path.string)
    }

    /// The same for an open file.
    public static func scan(fd: Int32, what: String) throws -> SparseMap {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw StorageError(.unknown, "\(what): \(Errno(rawValue: errno))") }
        let size = Int64(info.st_size)
        var segments: [SparseSegment] = []
        var position: Int64 = 0
        while position < size {
            let data = lseek(fd, off_t(position), seekData)
            if data < 0 {
                if errno == ENXIO { break }
                if errno == EINVAL, segments.isEmpty { return SparseMap(segments: [SparseSegment(offset: 0, length: size)], logicalSize: size) }
                throw StorageError(.unknown, "\(what): cannot find its data: \(Errno(rawValue: errno))")
            }
            var hole = Int64(lseek(fd, data, seekHole))
            if hole < 0 || hole > size { hole = size }
            if hole > Int64(data) {
                if let last = segments.last, last.offset + last.length == Int64(data) {
                    segments[segments.count - 1].length += hole - Int64(data)
                } else {
                    segments.append(SparseSegment(offset: Int64(data), length: hole - Int64(data)))
                }
            }
            position = max(hole, Int64(data) + 1)
        }
        return SparseMap(segments: segments, logicalSize: size)
    }

    /// The `COCOON.sparse.map` value: `[{"o":0,"l":65536},…]`, or `null` for a file that is all
    /// hole (Go marshals an empty slice of a nil map so).
    public var jsonText: String {
        guard !segments.isEmpty else { return "null" }
        return "[" + segments.map { "{\"o\":\($0.offset),\"l\":\($0.length)}" }.joined(separator: ",") + "]"
    }

    /// Reads a `COCOON.sparse.map` value for a file of `logicalSize` bytes; runs must be in order,
    /// apart, and inside the file.
    public init(jsonText: String, logicalSize: Int64) throws {
        guard logicalSize >= 0 else { throw StorageError(.unknown, "sparse map: negative file size \(logicalSize)") }
        let json: GoJSON
        do { json = try GoJSON(parsing: Array(jsonText.utf8)) } catch { throw StorageError(.unknown, "sparse map: \(error)") }
        var segments: [SparseSegment] = []
        switch json {
        case .null: break
        case .array(let items):
            for (index, item) in items.enumerated() {
                guard let offset = item["o"]?.int64Value, let length = item["l"]?.int64Value else {
                    throw StorageError(.unknown, "sparse map: segment \(index) is not {\"o\":OFFSET,\"l\":LENGTH}")
                }
                guard offset >= 0, length >= 0 else { throw StorageError(.unknown, "sparse map: segment \(index) is negative") }
                if let last = segments.last, offset < last.offset + last.length {
                    throw StorageError(.unknown, "sparse map: segment \(index) (o=\(offset)) overlaps or precedes the one before")
                }
                guard offset <= logicalSize, length <= logicalSize - offset else {
                    throw StorageError(.unknown, "sparse map: segment \(index) (o=\(offset), l=\(length)) runs past the file size \(logicalSize)")
                }
                segments.append(SparseSegment(offset: offset, length: length))
            }
        default:
            throw StorageError(.unknown, "sparse map: not a JSON array")
        }
        self.init(segments: segments, logicalSize: logicalSize)
    }
}
