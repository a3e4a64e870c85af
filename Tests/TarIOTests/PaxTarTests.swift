import FerryCore
import OCI
import Foundation
import Testing

@testable import TarIO

/// The PAX tar framing against Python's tarfile, writing and reading, plain and gzip.
@Suite final class PaxTarTests {
    let directory: String

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-pax-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// Runs `arguments` (a program found on PATH, then its arguments) and returns its standard output.
    func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(arguments.prefix(2))")
        return String(decoding: data, as: UTF8.self)
    }

    func python(_ script: String, _ arguments: [String]) throws -> String {
        try run(["python3", "-c", script] + arguments)
    }

    static let longName = String(repeating: "d", count: 150) + "/" + String(repeating: "f", count: 49)
    static let payload = (0..<(20 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }

    @Test(arguments: ["w.tar", "w.tar.gz"])
    func pythonReadsWhatItWrites(_ name: String) throws {
        let path = "\(directory)/\(name)"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let writer = try PaxTarWriter(fd: fd, compression: TarWriter.Compression(forFileName: name), name: path)
        try writer.beginFile(path: "snapshot.json", size: 2, mode: 0o644, modificationTime: 1_776_988_800)
        try writer.write(Array("{}".utf8))
        try writer.beginFile(path: "overlay.qcow2", size: Int64(Self.payload.count), mode: 0o600,
                             records: [("COCOON.sparse.map", #"[{"o":0,"l":65536}]"#), ("COCOON.sparse.size", "10737418240")])
        for start in stride(from: 0, to: Self.payload.count, by: 1 << 20) {
            try writer.write(Array(Self.payload[start..<min(start + (1 << 20), Self.payload.count)]))
        }
        try writer.beginFile(path: Self.longName, size: 0, mode: 0o640)
        try writer.finish()
        close(fd)
        let listing = try python("""
            import tarfile, sys, hashlib, json
            with tarfile.open(sys.argv[1], "r:*") as t:
                for m in t:
                    body = t.extractfile(m).read()
                    print(json.dumps([m.name, m.size, m.mode, m.mtime, {k: v for k, v in m.pax_headers.items() if k.startswith("COCOON")}, hashlib.sha256(body).hexdigest()]))
            """, [path])
        let rows = listing.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [Any] }
        #expect(rows.map { $0[0] as! String } == ["snapshot.json", "overlay.qcow2", Self.longName])
        #expect(rows[0][3] as? Int == 1_776_988_800)
        #expect(rows[1][1] as? Int == Self.payload.count && rows[1][2] as? Int == 0o600)
        #expect(rows[1][4] as? [String: String] == ["COCOON.sparse.map": #"[{"o":0,"l":65536}]"#, "COCOON.sparse.size": "10737418240"])
        #expect(rows[1][5] as? String == Digest.compute(Self.payload).encoded)
        #expect(rows[2][1] as? Int == 0 && rows[2][2] as? Int == 0o640)
    }

    @Test(arguments: [("r.tar", "w", "PAX_FORMAT"), ("r.tar.gz", "w:gz", "PAX_FORMAT"), ("g.tar", "w", "GNU_FORMAT")])
    func readsWhatPythonWrites(_ name: String, _ mode: String, _ format: String) throws {
        let path = "\(directory)/\(name)"
        _ = try python("""
            import tarfile, sys, io
            with tarfile.open(sys.argv[1], sys.argv[2], format=getattr(tarfile, sys.argv[3])) as t:
                for name, body, pax in [("snapshot.json", b"{}\\n", {}), ("cow.raw", bytes(range(256)) * 4000, {"COCOON.sparse.map": "null", "COCOON.sparse.size": "4096"}), (sys.argv[4], b"x" * 700, {})]:
                    info = tarfile.TarInfo(name)
                    info.size, info.mode = len(body), 0o600
                    if pax and sys.argv[3] == "PAX_FORMAT": info.pax_headers = pax
                    t.addfile(info, io.BytesIO(body))
            """, [path, mode, format, Self.longName])
        let reader = try PaxTarReader(path: path)
        var entries: [PaxTarEntry] = []
        var bodies: [[UInt8]] = []
        while let entry = try reader.next() {
            var body: [UInt8] = []
            while case let chunk = try reader.read(upTo: 4096), !chunk.isEmpty { body += chunk }
            entries.append(entry)
            bodies.append(body)
        }
        #expect(reader.isCompressed == name.hasSuffix(".gz"))
        #expect(entries.map(\.path) == ["snapshot.json", "cow.raw", Self.longName])
        #expect(entries.allSatisfy { $0.mode == 0o600 && $0.isRegular })
        #expect(bodies[1] == Array((0..<256).map { UInt8($0) }.repeated(4000)))
        #expect(bodies[2] == [UInt8](repeating: UInt8(ascii: "x"), count: 700))
        if format == "PAX_FORMAT" { #expect(entries[1].records["COCOON.sparse.map"] == "null" && entries[1].records["COCOON.sparse.size"] == "4096") }
        if !name.hasSuffix(".gz") {
            let file = try #require(FileHandle(forReadingAtPath: path))
            try file.seek(toOffset: UInt64(entries[1].dataOffset))
            #expect(Array(file.readData(ofLength: 256)) == Array(bodies[1].prefix(256)))
        }
    }

    @Test func damagedArchivesThrowNamingTheArchive() throws {
        let good = "\(directory)/good.tar"
        _ = try python("""
            import tarfile, sys, io
            with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
                info = tarfile.TarInfo("a"); info.size = 5000; info.pax_headers = {"COCOON.sparse.size": "1"}
                t.addfile(info, io.BytesIO(b"y" * 5000))
            """, [good])
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: good)))
        var checksum = bytes; checksum[148] = UInt8(ascii: "7")          // the PAX header's checksum
        var record = bytes; record[512] = UInt8(ascii: "9")              // the record length
        var size = bytes; size[1024 + 124] = UInt8(ascii: "x")           // the entry's size field, checksum kept valid
        Self.resum(&size, at: 1024)
        let truncated = Array(bytes.prefix(1024 + 512 + 3000))
        for (label, damaged) in [("checksum", checksum), ("record", record), ("size", size), ("truncated", truncated)] {
            try expectRejected(label, damaged)
        }
    }

    @Test func hostileHeadersThrowNamingTheArchive() throws {
        let end = [UInt8](repeating: 0, count: 1024)
        let cases: [(String, [UInt8])] = [
            ("pax-too-large", Self.block(type: "x", size: (1 << 20) + 1) + [UInt8](repeating: 0x20, count: 4096) + end),
            ("long-name-too-large", Self.block(type: "L", size: 2 << 20) + [UInt8](repeating: 0x41, count: 4096) + end),
            ("negative-size", Self.block(sizeField: [UInt8](repeating: 0xFF, count: 12)) + end),
            ("absurd-size", Self.block(sizeField: [0x80, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0]) + end),
            ("pax-size-garbage", Self.paxEntry([("size", "12x")], size: 0) + end),
            ("pax-size-absurd", Self.paxEntry([("size", "9223372036854775807")], size: 0) + end),
            ("pax-no-equals", Self.block(type: "x", size: 8) + Self.padded(Array("8 abcde\n".utf8)) + Self.block() + end),
            ("pax-no-newline", Self.block(type: "x", size: 10) + Self.padded(Array("10 a=bcde ".utf8)) + Self.block() + end),
            ("half-a-header", Array(Self.block().prefix(300))),
            ("text", Array(String(repeating: "not a tar at all\n", count: 64).utf8)),
            ("truncated-padding", Self.block(size: 10) + Array("0123456789".utf8) + [0, 0, 0]),
        ]
        for (label, bytes) in cases { try expectRejected(label, bytes) }
    }

    @Test func endsAtOneZeroBlockOrAtTheLastPadding() throws {
        let entry = Self.block(size: 3) + Self.padded(Array("abc".utf8))
        for (label, bytes) in [("two-zero-blocks", entry + [UInt8](repeating: 0, count: 1024)),
                               ("one-zero-block", entry + [UInt8](repeating: 0, count: 512)),
                               ("no-zero-block", entry)] {
            let path = "\(directory)/\(label).tar"
            #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
            let reader = try PaxTarReader(path: path)
            var paths: [String] = []
            while let entry = try reader.next() {
                paths.append(entry.path)
                #expect(try reader.read(upTo: 100) == Array("abc".utf8))
            }
            #expect(paths == ["a"], "\(label)")
        }
        try expectRejected("empty", [])
    }

    /// GNU tar's own formats: `gnu` puts a long name in an `L` entry, `posix` in a PAX `path`
    /// record beside fractional `mtime`, `atime` and `ctime` records.
    @Test(arguments: ["gnu", "posix"])
    func readsWhatGNUTarWrites(_ format: String) throws {
        guard let tar = Self.gnuTar else { return }
        let source = "\(directory)/src-\(format)"
        let deep = String(repeating: "d", count: 120)
        try FileManager.default.createDirectory(atPath: "\(source)/\(deep)", withIntermediateDirectories: true)
        let body = Array(Self.payload.prefix(70_001))
        #expect(FileManager.default.createFile(atPath: "\(source)/\(deep)/overlay.qcow2", contents: Data(body)))
        #expect(FileManager.default.createFile(atPath: "\(source)/short.json", contents: Data("{}".utf8)))
        chmod("\(source)/\(deep)/overlay.qcow2", 0o600)
        chmod("\(source)/short.json", 0o644)
        let path = "\(directory)/gnu-\(format).tar"
        _ = try run([tar, "--format=\(format)", "-cf", path, "-C", source, "short.json", deep])
        let mtime = try FileManager.default.attributesOfItem(atPath: "\(source)/\(deep)/overlay.qcow2")[.modificationDate] as! Date
        let reader = try PaxTarReader(path: path)
        var files: [String: (PaxTarEntry, [UInt8])] = [:]
        var kinds: [String: UInt8] = [:]
        while let entry = try reader.next() {
            kinds[entry.path] = entry.typeflag
            guard entry.isRegular else { continue }
            var data: [UInt8] = []
            while case let chunk = try reader.read(upTo: 1 << 16), !chunk.isEmpty { data += chunk }
            files[entry.path] = (entry, data)
        }
        #expect(kinds[deep + "/"] == UInt8(ascii: "5"))
        #expect(Set(files.keys) == ["short.json", "\(deep)/overlay.qcow2"])
        let overlay = try #require(files["\(deep)/overlay.qcow2"])
        #expect(overlay.1 == body && overlay.0.size == Int64(body.count) && overlay.0.mode == 0o600)
        #expect(overlay.0.modificationTime == Int64(mtime.timeIntervalSince1970.rounded(.down)))
        #expect(files["short.json"]?.1 == Array("{}".utf8) && files["short.json"]?.0.mode == 0o644)
        if format == "posix" { #expect(overlay.0.records["path"] == "\(deep)/overlay.qcow2" && overlay.0.records["atime"] != nil) }
        let file = try #require(FileHandle(forReadingAtPath: path))
        try file.seek(toOffset: UInt64(overlay.0.dataOffset))
        #expect(Array(file.readData(ofLength: 1000)) == Array(body.prefix(1000)))
    }

    /// A 9 GiB entry needs a PAX `size` record. The data (zeros) go to /dev/null once the headers
    /// are in the file, whose tail is then a hole, so the test costs no disk and little time.
    @Test func sizesOfEightGiBAndMoreGoInAPAXRecord() throws {
        let path = "\(directory)/big.tar"
        let size: Int64 = 9 << 30
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let writer = try PaxTarWriter(fd: fd, compression: .none, name: path)
        try writer.beginFile(path: "overlay.qcow2", size: size, mode: 0o640, records: [("COCOON.sparse.size", "10737418240")])
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        try writer.write(zeros)
        let headers = lseek(fd, 0, SEEK_CUR) - off_t(zeros.count)
        let sink = open("/dev/null", O_WRONLY)
        dup2(sink, fd)
        close(sink)
        for _ in 1..<(size >> 20) { try writer.write(zeros) }
        try writer.finish()
        close(fd)
        #expect(truncate(path, headers + off_t(size) + 1024) == 0)
        let file = try #require(FileHandle(forReadingAtPath: path))
        let header = Array(file.readData(ofLength: Int(headers)))
        #expect(header.count == 1536 && header[1024 + 124..<1024 + 136].allSatisfy { $0 == UInt8(ascii: "0") || $0 == 0 })
        let listing = try python("""
            import tarfile, sys, json
            with tarfile.open(sys.argv[1]) as t:
                print(json.dumps([[m.name, m.size, m.mode, m.offset_data, m.pax_headers] for m in t]))
            """, [path])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [[Any]])
        #expect(rows.count == 1 && rows.first?[0] as? String == "overlay.qcow2" && rows.first?[1] as? Int == 9 << 30)
        #expect(rows.first?[2] as? Int == 0o640 && rows.first?[3] as? Int == Int(headers))
        #expect(rows.first?[4] as? [String: String] == ["size": "9663676416", "COCOON.sparse.size": "10737418240"])
        let reader = try PaxTarReader(path: path)
        let entry = try #require(try reader.next())
        #expect(entry.size == size && entry.dataOffset == Int64(headers) && entry.records["COCOON.sparse.size"] == "10737418240")
    }

    @Test func writerRefusesEntriesOfTheWrongSize() throws {
        let path = "\(directory)/short.tar"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        let writer = try PaxTarWriter(fd: fd, compression: .none, name: path)
        try writer.beginFile(path: "a", size: 4, mode: 0o644)
        #expect(throws: StorageError.self) { try writer.write(Array("abcde".utf8)) }
        try writer.write(Array("abc".utf8))
        #expect(throws: StorageError.self) { try writer.beginFile(path: "b", size: 1, mode: 0o644) }
        #expect(throws: StorageError.self) { try writer.finish() }
        #expect(throws: StorageError.self) { try PaxTarWriter(fd: fd, compression: .zstd, name: path) }
    }

    /// Inputs that crashed the first reader or ended it silently: base-256 in an 8-byte field, a
    /// PAX record length near Int.max, an extended header with nothing after it.
    @Test func oddHeadersNeitherCrashNorEndSilently() throws {
        let end = [UInt8](repeating: 0, count: 1024)
        let records = PaxTarWriter.record("COCOON.sparse.size", "1")
        let pax = Self.block(type: "x", size: Int64(records.count)) + Self.padded(records)
        try expectRejected("pax-length-overflow", Self.block(type: "x", size: 30) + Self.padded(Array("6 a=b\n9223372036854775807 a=b\n".utf8)) + Self.block() + end)
        try expectRejected("pax-then-eof", pax)
        try expectRejected("pax-then-zero-blocks", pax + end)
        try expectRejected("long-name-then-eof", Self.block(type: "L", size: 4) + Self.padded(Array("abc\0".utf8)))
        let modes = Self.block { $0.replaceSubrange(100..<108, with: [0x80, 0, 0, 0, 0, 0, 0x01, 0xA4]) } + end
        let fifo = Self.block(type: "6", size: 4096) + Self.block(size: 2) + Self.padded(Array("ok".utf8)) + end
        for (label, bytes) in [("base-256-mode", modes), ("fifo-with-a-size", fifo)] {
            let path = "\(directory)/\(label).tar"
            #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
            let reader = try PaxTarReader(path: path)
            var entries: [(UInt8, Int64, UInt32, [UInt8])] = []
            while let entry = try reader.next() { entries.append((entry.typeflag, entry.size, entry.mode, try reader.read(upTo: 100))) }
            let expected: [(UInt8, Int64, UInt32, [UInt8])] = label == "fifo-with-a-size"
                ? [(UInt8(ascii: "6"), 0, 0o644, []), (UInt8(ascii: "0"), 2, 0o644, Array("ok".utf8))] : [(UInt8(ascii: "0"), 0, 0o644, [])]
            #expect(entries.map { "\($0)" } == expected.map { "\($0)" }, "\(label)")
        }
    }

    /// Old GNU headers keep atime and ctime where USTAR has its name prefix (`tar -g` fills them).
    @Test func oldGNUHeadersHaveNoNamePrefix() throws {
        guard let tar = Self.gnuTar else { return }
        let source = "\(directory)/incremental"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: "\(source)/short.bin", contents: Data("body".utf8)))
        let path = "\(directory)/incremental.tar"
        _ = try run([tar, "--format=gnu", "--listed-incremental=\(directory)/snapshot", "-cf", path, "-C", source, "."])
        let reader = try PaxTarReader(path: path)
        var entries: [(String, UInt8, [UInt8])] = []
        while let entry = try reader.next() { entries.append((entry.path, entry.typeflag, try reader.read(upTo: 100))) }
        #expect(entries.map(\.0) == ["./", "./short.bin"] && entries.map(\.1) == [UInt8(ascii: "D"), UInt8(ascii: "0")])
        #expect(entries.last?.2 == Array("body".utf8))
    }

    @Test func writerChecksItsInput() throws {
        let path = "\(directory)/checked.tar"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        let writer = try PaxTarWriter(fd: fd, compression: .none, name: path)
        #expect(throws: StorageError.self) { try writer.beginFile(path: "a", size: -1, mode: 0o644) }
        for key in ["", "a=b", "a\nb"] {
            #expect(throws: StorageError.self) { try writer.beginFile(path: "a", size: 0, mode: 0o644, records: [(key, "v")]) }
        }
        try writer.beginFile(path: "a", size: 0, mode: 0o644)
        try writer.finish()
        try writer.finish()
        #expect(throws: StorageError.self) { try writer.beginFile(path: "b", size: 0, mode: 0o644) }
        #expect(lseek(fd, 0, SEEK_END) == 512 + 1024)
    }

    /// Times before 1970 or past year 2242 do not fit 11 octal digits; PAX `mtime` carries them.
    @Test func mtimesOutsideTheOctalFieldGoInAPAXRecord() throws {
        let path = "\(directory)/times.tar"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let writer = try PaxTarWriter(fd: fd, compression: .none, name: path)
        for (name, time) in [("old", Int64(-1)), ("far", Int64(1) << 40), ("now", Int64(1_776_988_800))] {
            try writer.beginFile(path: name, size: 0, mode: 0o644, modificationTime: time)
        }
        try writer.finish()
        close(fd)
        let listing = try python("""
            import tarfile, sys
            with tarfile.open(sys.argv[1]) as t:
                print(" ".join(f"{m.name}={int(m.mtime)}" for m in t))
            """, [path])
        #expect(listing == "old=-1 far=1099511627776 now=1776988800\n")
        let reader = try PaxTarReader(path: path)
        var times: [Int64] = []
        while let entry = try reader.next() { times.append(entry.modificationTime) }
        #expect(times == [-1, 1 << 40, 1_776_988_800])
    }

    /// Releasing an unfinished gzip writer must not flush anything into the caller's descriptor,
    /// which may be closed, or reused by another file, by then.
    @Test func anAbandonedGzipWriterWritesNothing() throws {
        let path = "\(directory)/abandoned.tar.gz"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        do {
            let writer = try PaxTarWriter(fd: fd, compression: .gzip, name: path)
            try writer.beginFile(path: "a", size: 10, mode: 0o644)
            try writer.write(Array("abc".utf8))
        }
        #expect(lseek(fd, 0, SEEK_END) == 0)
    }

    // MARK: helpers

    /// Expects reading `bytes` as a tar to throw a StorageError that names the archive.
    func expectRejected(_ label: String, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let path = "\(directory)/\(label).tar"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        #expect("\(label)", sourceLocation: sourceLocation, performing: {
            let reader = try PaxTarReader(path: path)
            while try reader.next() != nil { while try !reader.read(upTo: 4096).isEmpty {} }
        }, throws: { ($0 as? StorageError)?.message.hasPrefix(path) == true })
    }

    /// A USTAR header named `a`, changed by `edit`, with its checksum recomputed.
    static func block(type: Character = "0", size: Int64 = 0, _ edit: (inout [UInt8]) -> Void = { _ in }) -> [UInt8] {
        var block = PaxTarWriter.header(name: "a", size: size, mode: 0o644, mtime: 0, type: type)
        edit(&block)
        resum(&block, at: 0)
        return block
    }

    /// A header whose 12-byte size field is `sizeField` (base-256, say).
    static func block(sizeField: [UInt8]) -> [UInt8] { block { $0.replaceSubrange(124..<136, with: sizeField) } }

    /// A PAX header holding `records`, then a regular entry of `size` bytes (its data not included).
    static func paxEntry(_ records: [(String, String)], size: Int64) -> [UInt8] {
        let body = records.flatMap { PaxTarWriter.record($0.0, $0.1) }
        return block(type: "x", size: Int64(body.count)) + padded(body) + block(size: size)
    }

    static func padded(_ bytes: [UInt8]) -> [UInt8] { bytes + [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512) }

    /// Rewrites the checksum of the header block at `offset` after an edit.
    static func resum(_ bytes: inout [UInt8], at offset: Int) {
        for i in 148..<156 { bytes[offset + i] = 0x20 }
        let sum = bytes[offset..<offset + 512].reduce(0) { $0 + Int($1) }
        let digits = Array(String(sum, radix: 8).utf8)
        let field = [UInt8](repeating: UInt8(ascii: "0"), count: 6 - digits.count) + digits + [0, 0x20]
        bytes.replaceSubrange(offset + 148..<offset + 156, with: field)
    }

    /// GNU tar from PATH, or nil when there is none (the tests that need it then pass vacuously).
    static let gnuTar: String? = {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return directories.map { "\($0)/tar" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
}

extension Array {
    func repeated(_ times: Int) -> [Element] { (0..<times).flatMap { _ in self } }
}
