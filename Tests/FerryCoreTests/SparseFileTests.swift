import Foundation
import SystemPackage
import Testing

@testable import FerryCore

@Suite("SparseFile")
struct SparseFileTests {
    static let kib: Int64 = 1 << 10
    static let mib: Int64 = 1 << 20

    // MARK: Scanning

    @Test func scanFindsTheDataSegments() throws {
        try withDirectory { directory in
            let path = directory.appending("disk.raw")
            try makeFile(path, size: 16 * Self.mib, data: [(0, pattern(65536, seed: 1)), (Self.mib, pattern(4096, seed: 2))])
            let map = try SparseMap.scan(path)
            #expect(map.segments == [SparseSegment(offset: 0, length: 65536), SparseSegment(offset: Self.mib, length: 4096)])
            #expect(map.logicalSize == 16 * Self.mib)
            #expect(map.dataSize == 69632)
            #expect(map.isSparse)
            #expect(map.jsonText == #"[{"o":0,"l":65536},{"o":1048576,"l":4096}]"#)

            let fd = try FileDescriptor.open(path, .readOnly)
            defer { try? fd.close() }
            #expect(try SparseMap.scan(fd, path: path) == map)
        }
    }

    @Test func scanMergesAdjacentDataAndFindsDataAtTheEnd() throws {
        try withDirectory { directory in
            let path = directory.appending("disk.raw")
            // Written in two pieces that touch, and a last block that ends the file.
            try makeFile(
                path, size: 8 * Self.mib,
                data: [(8192, pattern(8192, seed: 3)), (16384, pattern(4096, seed: 4)), (8 * Self.mib - 4096, pattern(4096, seed: 5))])
            let map = try SparseMap.scan(path)
            #expect(map.segments == [SparseSegment(offset: 8192, length: 12288), SparseSegment(offset: 8 * Self.mib - 4096, length: 4096)])
        }
    }

    @Test func fileThatIsAllHoleHasNoSegments() throws {
        try withDirectory { directory in
            let path = directory.appending("empty-disk.raw")
            try makeFile(path, size: 8 * Self.mib, data: [])
            let map = try SparseMap.scan(path)
            #expect(map.segments.isEmpty)
            #expect(map.logicalSize == 8 * Self.mib)
            #expect(map.dataSize == 0)
            #expect(map.isSparse)
            #expect(map.jsonText == "null")
        }
    }

    @Test func denseFileIsOneSegment() throws {
        try withDirectory { directory in
            let path = directory.appending("config.json")
            try makeFile(path, size: 10_000, data: [(0, pattern(10_000, seed: 6))])
            let map = try SparseMap.scan(path)
            #expect(map.segments == [SparseSegment(offset: 0, length: 10_000)])
            #expect(map.dataSize == 10_000)
            #expect(!map.isSparse)
            #expect(map.jsonText == #"[{"o":0,"l":10000}]"#)
        }
    }

    @Test func emptyFileHasNoSegments() throws {
        try withDirectory { directory in
            let path = directory.appending("nothing")
            try makeFile(path, size: 0, data: [])
            let map = try SparseMap.scan(path)
            #expect(map == SparseMap(segments: [], logicalSize: 0))
            #expect(!map.isSparse)
            #expect(map.jsonText == "null")
        }
    }

    @Test func scanOfAMissingFileFails() {
        let error = #expect(throws: StorageError.self) { try SparseMap.scan(FilePath("/nonexistent/ferry-sparse")) }
        #expect(error?.message.contains("/nonexistent/ferry-sparse") == true)
    }

    // MARK: The map's JSON

    @Test func jsonTextRoundTrips() throws {
        let map = SparseMap(
            segments: [
                SparseSegment(offset: 0, length: 65536), SparseSegment(offset: 1_048_576, length: 4096),
                SparseSegment(offset: 10_737_414_144, length: 4096),
            ],
            logicalSize: 10_737_418_240)
        #expect(map.jsonText == #"[{"o":0,"l":65536},{"o":1048576,"l":4096},{"o":10737414144,"l":4096}]"#)
        #expect(try SparseMap(jsonText: map.jsonText, logicalSize: map.logicalSize) == map)

        let hole = SparseMap(segments: [], logicalSize: 4096)
        #expect(try SparseMap(jsonText: hole.jsonText, logicalSize: 4096) == hole)
    }

    @Test func jsonParsingAcceptsWhatGoAccepts() throws {
        #expect(try SparseMap(jsonText: "null", logicalSize: 100).segments.isEmpty)
        #expect(try SparseMap(jsonText: "[]", logicalSize: 100).segments.isEmpty)
        #expect(try SparseMap(jsonText: " [ ] \n", logicalSize: 100).segments.isEmpty)
        let spaced = try SparseMap(jsonText: "\n[ { \"l\" : 10 , \"o\" : 0 } ,\t{\"o\":20,\"l\":0} ]\r\n", logicalSize: 100)
        #expect(spaced.segments == [SparseSegment(offset: 0, length: 10), SparseSegment(offset: 20, length: 0)])
        // Segments may touch, and the last may end exactly at the end of the file.
        let touching = try SparseMap(jsonText: #"[{"o":0,"l":50},{"o":50,"l":50}]"#, logicalSize: 100)
        #expect(touching.dataSize == 100)
    }

    @Test(arguments: [
        (#"[{"o":0,"l":100},{"o":50,"l":10}]"#, "overlaps"),
        (#"[{"o":50,"l":10},{"o":0,"l":10}]"#, "precedes"),
        (#"[{"o":0,"l":10},{"o":4000,"l":97}]"#, "segment 1 (o=4000, l=97) runs past the file size 4096"),
        (#"[{"o":5000,"l":0}]"#, "runs past"),
        (#"[{"o":-1,"l":10}]"#, "negative"),
        (#"[{"o":0,"l":-10}]"#, "negative"),
        (#"[{"o":0,"l":9223372036854775807},{"o":9223372036854775807,"l":1}]"#, "runs past"),
        (#"[{"o":0,"l":99999999999999999999}]"#, "too large"),
        (#"[{"o":0}]"#, "segment 0"),
        (#"[{"o":0,"l":1,"x":2}]"#, "unexpected"),
        (#"[{"o":0,"l":1,"o":2}]"#, "repeated"),
        (#"[{"o":1.5,"l":1}]"#, "integer"),
        (#"[{"o":"1","l":1}]"#, "integer"),
        (#"[{"o":0,"l":1}"#, "expected"),
        (#"[{"o":0,"l":1}] x"#, "unexpected text"),
        ("", "expected"),
        ("nul", "expected"),
        ("{}", "expected"),
        ("not json", "expected"),
    ])
    func badMapsAreRefused(json: String, problem: String) {
        let error = #expect(throws: StorageError.self) { try SparseMap(jsonText: json, logicalSize: 4096) }
        #expect(error?.message.hasPrefix("sparse map: ") == true)
        #expect(error?.message.contains(problem) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("\n") == false)
    }

    @Test func negativeFileSizeIsRefused() {
        #expect(throws: StorageError.self) { try SparseMap(jsonText: "null", logicalSize: -1) }
    }

    // MARK: Reading the data

    @Test func sparseDataReadsOnlyTheSegments() async throws {
        try await withDirectory { directory in
            let path = directory.appending("big.raw")
            let pieces: [(Int64, [UInt8])] = [
                (64 * Self.kib, pattern(Int(Self.mib + 4 * Self.kib), seed: 7)),
                (512 * Self.mib, pattern(Int(Self.mib), seed: 8)),
                (1024 * Self.mib - (Self.mib - 4 * Self.kib), pattern(Int(Self.mib - 4 * Self.kib), seed: 9)),
            ]
            try makeFile(path, size: 1024 * Self.mib, data: pieces)
            let map = try SparseMap.scan(path)
            #expect(map.segments == pieces.map { SparseSegment(offset: $0.0, length: Int64($0.1.count)) })
            #expect(map.dataSize == 3 * Self.mib)

            var received: [UInt8] = []
            var chunks = 0
            for try await chunk in try ByteStream.sparseData(at: path, map: map) {
                #expect(chunk.count <= ByteStream.chunkSize)
                received += chunk
                chunks += 1
            }
            #expect(received == pieces.flatMap(\.1))
            #expect(chunks == 3)
        }
    }

    @Test func sparseDataOfAFileShorterThanItsMapFails() async throws {
        try await withDirectory { directory in
            let path = directory.appending("short.raw")
            try makeFile(path, size: 8192, data: [(0, pattern(8192, seed: 10))])
            let map = SparseMap(segments: [SparseSegment(offset: 0, length: 4096), SparseSegment(offset: 65536, length: 4096)], logicalSize: 69632)
            await #expect(throws: StorageError.self) {
                _ = try await ByteStream.sparseData(at: path, map: map).collect(upTo: 1 << 20, what: "short")
            }
        }
    }

    @Test func plainFileStreamsStillReadRegions() async throws {
        try await withDirectory { directory in
            let path = directory.appending("plain")
            let bytes = pattern(3 * Int(Self.mib) + 17, seed: 11)
            try makeFile(path, size: Int64(bytes.count), data: [(0, bytes)])
            let whole = try await ByteStream.file(at: path).collect(upTo: bytes.count, what: "plain")
            #expect(whole == bytes)
            let part = try await ByteStream.file(at: path, offset: 5, length: 2 * Self.mib).collect(upTo: bytes.count, what: "plain")
            #expect(part == Array(bytes[5..<(5 + 2 * Int(Self.mib))]))
        }
    }

    // MARK: Writing

    @Test func writerWithAMapRecreatesTheFile() async throws {
        try await withDirectory { directory in
            let source = directory.appending("source.raw")
            let size = 64 * Self.mib
            try makeFile(
                source, size: size,
                data: [(0, pattern(12288, seed: 12)), (5 * Self.mib, pattern(2 * Int(Self.mib), seed: 13)),
                       (size - 4096, pattern(4096, seed: 14))])
            let map = try SparseMap.scan(source)
            let copy = directory.appending("copy.raw")
            let writer = try await write(ByteStream.sparseData(at: source, map: map), to: copy, logicalSize: size, map: map)
            #expect(writer.bytesWritten == map.dataSize)

            #expect(try FileSystem.readFile(copy, limit: Int(size)) == FileSystem.readFile(source, limit: Int(size)))
            #expect(try SparseMap.scan(copy) == map)
            let allocated = try allocatedBytes(copy)
            #expect(allocated >= map.dataSize)
            #expect(allocated <= map.dataSize + Self.mib)
        }
    }

    @Test func writerWithoutAMapMakesHolesOfZeroBlocks() async throws {
        try await withDirectory { directory in
            // Allocated zeros in the source become holes in the copy.
            let source = directory.appending("source.raw")
            let size = 64 * Self.mib
            var data = pattern(3 * Int(Self.mib), seed: 15)
            data.replaceSubrange(4096..<(4096 + 65536), with: [UInt8](repeating: 0, count: 65536))
            try makeFile(source, size: size, data: [(8 * Self.mib, data), (20 * Self.mib, [UInt8](repeating: 0, count: 4 * Int(Self.mib)))])
            let sourceAllocated = try allocatedBytes(source)

            let copy = directory.appending("copy.raw")
            let writer = try await write(ByteStream.file(at: source), to: copy, logicalSize: size, map: nil)
            #expect(writer.bytesWritten == size)

            #expect(try FileSystem.readFile(copy, limit: Int(size)) == FileSystem.readFile(source, limit: Int(size)))
            #expect(try SparseMap.scan(copy).segments == [
                SparseSegment(offset: 8 * Self.mib, length: 4096),
                SparseSegment(offset: 8 * Self.mib + 4096 + 65536, length: 3 * Self.mib - 4096 - 65536),
            ])
            let allocated = try allocatedBytes(copy)
            #expect(allocated <= 3 * Self.mib + Self.mib)
            #expect(allocated < sourceAllocated - 3 * Self.mib)
        }
    }

    @Test(arguments: [1, 4095, 4096, 4097, 65536 + 1, 1 << 20, (1 << 20) + 3])
    func chunkBoundariesDoNotMatter(chunkSize: Int) async throws {
        try await withDirectory { directory in
            let content = Self.mixedContent()
            let expected = Self.nonZeroBlocks(of: content)

            let plain = directory.appending("plain")
            try await write(.bytes(content, chunkSize: chunkSize), to: plain, logicalSize: Int64(content.count), map: nil)
            #expect(try FileSystem.readFile(plain, limit: content.count) == content)
            #expect(try SparseMap.scan(plain) == expected)

            let packed = expected.segments.flatMap { content[Int($0.offset)..<Int($0.offset + $0.length)] }
            let mapped = directory.appending("mapped")
            try await write(.bytes(packed, chunkSize: chunkSize), to: mapped, logicalSize: Int64(content.count), map: expected)
            #expect(try FileSystem.readFile(mapped, limit: content.count) == content)
            #expect(try SparseMap.scan(mapped) == expected)
        }
    }

    @Test func wrongAmountsOfDataFail() throws {
        try withDirectory { directory in
            let path = directory.appending("out")
            let fd = try FileDescriptor.open(path, .readWrite, options: [.create], permissions: [.ownerReadWrite])
            defer { try? fd.close() }
            let map = SparseMap(segments: [SparseSegment(offset: 4096, length: 4096)], logicalSize: 16384)

            let plainLong = SparseFileWriter(fd: fd.rawValue, logicalSize: 8192, map: nil)
            try plainLong.write(pattern(8000, seed: 16))
            let long = #expect(throws: StorageError.self) { try plainLong.write(pattern(193, seed: 17)) }
            #expect(long?.code == .sizeInvalid)
            #expect(plainLong.bytesWritten == 8000)

            let plainShort = SparseFileWriter(fd: fd.rawValue, logicalSize: 8192, map: nil)
            try plainShort.write(pattern(8191, seed: 18))
            let short = #expect(throws: StorageError.self) { try plainShort.finish() }
            #expect(short?.code == .sizeInvalid)
            #expect(short?.message.contains("8191 bytes arrived where 8192 were expected") == true)

            let mappedLong = SparseFileWriter(fd: fd.rawValue, logicalSize: 16384, map: map)
            #expect(throws: StorageError.self) { try mappedLong.write(pattern(4097, seed: 19)) }

            let mappedShort = SparseFileWriter(fd: fd.rawValue, logicalSize: 16384, map: map)
            try mappedShort.write(pattern(4095, seed: 20))
            #expect(throws: StorageError.self) { try mappedShort.finish() }

            let nothing = SparseFileWriter(fd: fd.rawValue, logicalSize: 1, map: nil)
            #expect(throws: StorageError.self) { try nothing.finish() }
        }
    }

    @Test func allHoleMapGivesAFileOfTheRightLength() async throws {
        try await withDirectory { directory in
            let path = directory.appending("hole")
            let map = try SparseMap(jsonText: "null", logicalSize: 10 * Self.mib + 5)
            let writer = try await write(.bytes([]), to: path, logicalSize: map.logicalSize, map: map)
            #expect(writer.bytesWritten == 0)
            #expect(FileSystem.regularFileSize(path) == 10 * Self.mib + 5)
            #expect(try SparseMap.scan(path).segments.isEmpty)
        }
    }

    // MARK: Helpers

    /// Bytes that are never zero, distinct per seed.
    private func pattern(_ count: Int, seed: Int) -> [UInt8] {
        (0..<count).map { i in UInt8(truncatingIfNeeded: i &* 31 &+ (i >> 8) &+ seed &* 7) | 1 }
    }

    /// About 2 MiB with zero blocks alone and in runs, blocks that are zero but for one byte, and
    /// a short last block that is not zero.
    private static func mixedContent() -> [UInt8] {
        var content = [UInt8](repeating: 0, count: 2 * Int(mib) + 123)
        for block in stride(from: 0, to: content.count, by: 4096) {
            switch block / 4096 % 7 {
            case 0, 1: for i in block..<min(block + 4096, content.count) { content[i] = UInt8(truncatingIfNeeded: i % 251 + 1) }
            case 3: content[block + 4095] = 0xAA
            case 5: content[block] = 0x55
            default: break
            }
        }
        content[content.count - 1] = 0x7F
        return content
    }

    /// The map a file of `content` has once its all-zero aligned blocks are holes.
    private static func nonZeroBlocks(of content: [UInt8]) -> SparseMap {
        var segments: [SparseSegment] = []
        for block in stride(from: 0, to: content.count, by: 4096) {
            let end = min(block + 4096, content.count)
            guard content[block..<end].contains(where: { $0 != 0 }) else { continue }
            if let last = segments.last, last.offset + last.length == Int64(block) {
                segments[segments.count - 1].length += Int64(end - block)
            } else {
                segments.append(SparseSegment(offset: Int64(block), length: Int64(end - block)))
            }
        }
        return SparseMap(segments: segments, logicalSize: Int64(content.count))
    }

    /// Writes `stream` into a new file at `path` the way an importer does.
    @discardableResult
    private func write(_ stream: ByteStream, to path: FilePath, logicalSize: Int64, map: SparseMap?) async throws -> SparseFileWriter {
        let fd = try FileDescriptor.open(path, .readWrite, options: [.create, .exclusiveCreate], permissions: [.ownerReadWrite])
        defer { try? fd.close() }
        let writer = SparseFileWriter(fd: fd.rawValue, logicalSize: logicalSize, map: map)
        for try await chunk in stream { try writer.write(chunk) }
        try writer.finish()
        return writer
    }

    /// Creates a file of `size` bytes holding `data` at the given offsets and holes elsewhere.
    private func makeFile(_ path: FilePath, size: Int64, data: [(Int64, [UInt8])]) throws {
        let fd = try FileDescriptor.open(path, .readWrite, options: [.create, .truncate], permissions: [.ownerReadWrite])
        defer { try? fd.close() }
        for (offset, bytes) in data { _ = try fd.writeAll(toAbsoluteOffset: offset, bytes) }
        guard ftruncate(fd.rawValue, off_t(size)) == 0 else { throw Errno(rawValue: errno) }
    }

    /// The bytes the file system holds for a file (its blocks), not its length.
    private func allocatedBytes(_ path: FilePath) throws -> Int64 {
        var info = stat()
        guard stat(path.string, &info) == 0 else { throw Errno(rawValue: errno) }
        return Int64(info.st_blocks) * 512
    }

    private func withDirectory<T>(_ body: (FilePath) async throws -> T) async throws -> T {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory.string) }
        return try await body(directory)
    }

    private func withDirectory<T>(_ body: (FilePath) throws -> T) throws -> T {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory.string) }
        return try body(directory)
    }

    private func makeDirectory() throws -> FilePath {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-sparse-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return FilePath(url.path)
    }
}
