import Foundation
import SystemPackage
import Testing

@testable import FerryCore

/// Sparse files on this disk (ext4 reports data in 4 KiB blocks): found by SEEK_DATA/SEEK_HOLE,
/// read at the cost of their data, and written back with their holes.
@Suite final class SparseFileTests {
    let directory: String

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-sparse-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// A file of `size` bytes with `runs` of patterned data and holes elsewhere.
    func makeFile(_ name: String, size: Int64, runs: [(Int64, Int)]) throws -> (String, [UInt8]) {
        let path = "\(directory)/\(name)"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        #expect(ftruncate(fd, off_t(size)) == 0)
        var expected = [UInt8]()
        for (offset, length) in runs {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: ($0 * 7 + Int(offset)) % 251 + 1) }
            _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, length, off_t(offset)) }
            expected += bytes
        }
        return (path, expected)
    }

    func allocated(_ path: String) -> Int64 {
        var info = stat()
        stat(path, &info)
        return Int64(info.st_blocks) * 512
    }

    @Test func scanFindsTheDataRuns() throws {
        let (path, _) = try makeFile("disk", size: 16 << 20, runs: [(0, 65536), (1 << 20, 4096)])
        let map = try SparseMap.scan(FilePath(path))
        #expect(map.segments == [SparseSegment(offset: 0, length: 65536), SparseSegment(offset: 1 << 20, length: 4096)])
        #expect(map.jsonText == #"[{"o":0,"l":65536},{"o":1048576,"l":4096}]"#)
        #expect(map.isSparse && map.dataSize == 69632 && map.logicalSize == 16 << 20)
        #expect(try SparseMap(jsonText: map.jsonText, logicalSize: 16 << 20) == map)

        let (hole, _) = try makeFile("hole", size: 1 << 20, runs: [])
        #expect(try SparseMap.scan(FilePath(hole)).jsonText == "null")
        #expect(try SparseMap(jsonText: "null", logicalSize: 1 << 20).segments.isEmpty)
        let (dense, _) = try makeFile("dense", size: 8192, runs: [(0, 8192)])
        #expect(try !SparseMap.scan(FilePath(dense)).isSparse)
        let (empty, _) = try makeFile("empty", size: 0, runs: [])
        #expect(try SparseMap.scan(FilePath(empty)).segments.isEmpty)
    }

    @Test func badMapsAreRefused() {
        for text in [#"[{"o":0,"l":10},{"o":5,"l":10}]"#, #"[{"o":100,"l":1},{"o":0,"l":1}]"#, #"[{"o":0,"l":5000}]"#,
                     #"[{"o":-1,"l":1}]"#, "nope", #"{"o":0}"#, #"[{"o":0}]"#] {
            #expect(throws: StorageError.self, "\(text)") { try SparseMap(jsonText: text, logicalSize: 4096) }
        }
    }

    @Test func sparseDataReadsOnlyTheRunsAndWriterPutsThemBack() async throws {
        let runs: [(Int64, Int)] = [(0, 1 << 20), (300 << 20, 1 << 20), ((1 << 30) - (1 << 20), 1 << 20)]
        let (path, expected) = try makeFile("big", size: 1 << 30, runs: runs)
        let map = try SparseMap.scan(FilePath(path))
        var packed = [UInt8]()
        for try await chunk in try ByteStream.sparseData(at: FilePath(path), map: map) { packed += chunk }
        #expect(packed == expected)

        // Written back from odd-sized chunks: the same map, the same bytes, holes again.
        let copy = "\(directory)/copy"
        let fd = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let writer = SparseFileWriter(fd: fd, logicalSize: 1 << 30, map: map)
        var offset = 0
        for size in [1, 4095, 4097, (1 << 20) + 3] + Array(repeating: 1 << 20, count: 3) where offset < packed.count {
            let end = min(packed.count, offset + size)
            try writer.write(Array(packed[offset..<end]))
            offset = end
        }
        try writer.finish()
        close(fd)
        #expect(try SparseMap.scan(FilePath(copy)) == map)
        #expect(allocated(copy) < 8 << 20)
        #expect(try run("cmp", [path, copy]) == 0)
    }

    @Test func plainStreamsLoseTheirZeroBlocksToHoles() throws {
        var contents = [UInt8](repeating: 0, count: 64 << 20)
        for i in 0..<10000 { contents[i] = 1 }
        for i in (40 << 20)..<((40 << 20) + 5000) { contents[i] = 2 }
        let path = "\(directory)/plain"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let writer = SparseFileWriter(fd: fd, logicalSize: Int64(contents.count), map: nil)
        var offset = 0
        while offset < contents.count {
            let end = min(contents.count, offset + 1_000_003)
            try writer.write(Array(contents[offset..<end]))
            offset = end
        }
        try writer.finish()
        close(fd)
        #expect(FileManager.default.contents(atPath: path) == Data(contents))
        #expect(allocated(path) <= 64 << 10)

        let short = open("\(directory)/short", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(short) }
        let tooFew = SparseFileWriter(fd: short, logicalSize: 100, map: nil)
        try tooFew.write([1, 2, 3])
        #expect(throws: StorageError.self) { try tooFew.finish() }
        #expect(throws: StorageError.self) { try tooFew.write([UInt8](repeating: 1, count: 98)) }
    }

    private func run(_ tool: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
