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

    func python(_ script: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return String(decoding: data, as: UTF8.self)
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
        var size = bytes; size[1024 + 124] = UInt8(ascii: "x")           // the entry's size field
        let truncated = Array(bytes.prefix(1024 + 512 + 3000))
        for (label, damaged) in [("checksum", checksum), ("record", record), ("size", size), ("truncated", truncated)] {
            let path = "\(directory)/\(label).tar"
            FileManager.default.createFile(atPath: path, contents: Data(damaged))
            #expect(performing: {
                let reader = try PaxTarReader(path: path)
                while try reader.next() != nil { while try !reader.read(upTo: 4096).isEmpty {} }
            }, throws: { ($0 as? StorageError)?.message.hasPrefix(path) == true })
        }
    }
}

extension Array {
    func repeated(_ times: Int) -> [Element] { (0..<times).flatMap { _ in self } }
}
