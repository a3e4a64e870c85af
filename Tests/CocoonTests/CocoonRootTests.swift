import FerryCore
import Foundation
import SystemPackage
import Testing

@testable import Cocoon

/// The cocoon root's index: resolution as cocoon does it, rewrites that keep every byte of the
/// records Ferry did not touch, and cocoon's own lock.
@Suite final class CocoonRootTests {
    let directory: String
    let root: CocoonRoot

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-root-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: "\(directory)/snapshot/db", withIntermediateDirectories: true)
        root = CocoonRoot(path: FilePath(directory))
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    static let existing = #"{"snapshots":{"3QWZK7Y2ABCDEFGHJKLMNPQRST":{"cpu":2,"memory":2147483648,"image":"ubuntu:24.04","id":"3QWZK7Y2ABCDEFGHJKLMNPQRST","name":"a\u0026b","image_blob_ids":{"ab":{}},"nics":1,"created_at":"2026-04-24T07:51:09.1234+08:00","newer_cocoon_key":{"x":[1]},"data_dir":"/var/lib/cocoon/snapshot/localfile/3QWZK7Y2ABCDEFGHJKLMNPQRST"},"0123456789abcdef":{"name":"","created_at":"2025-01-01T00:00:00Z","data_dir":"/x"},"PENDINGPENDINGPENDINGPEND2":{"name":"p","created_at":"2026-01-01T00:00:00Z","pending":true}},"names":{"a\u0026b":"3QWZK7Y2ABCDEFGHJKLMNPQRST","p":"PENDINGPENDINGPENDINGPEND2"}}"# + "\n"

    func write(_ text: String) throws {
        try text.write(toFile: "\(directory)/snapshot/db/snapshots.json", atomically: false, encoding: .utf8)
    }

    @Test func resolvesIdNamePrefixAndHidesPendingRecords() throws {
        try write(Self.existing)
        #expect(try root.resolve("a&b").id == "3QWZK7Y2ABCDEFGHJKLMNPQRST")
        #expect(try root.resolve("3QWZK7Y2ABCDEFGHJKLMNPQRST").record.config.memory == 2_147_483_648)
        #expect(try root.resolve("3QW").id == "3QWZK7Y2ABCDEFGHJKLMNPQRST")
        #expect(try root.resolve("0123").id == "0123456789abcdef")
        #expect(throws: StorageError.self) { try self.root.resolve("p") }
        #expect(throws: StorageError.self) { try self.root.resolve("3Q") }
        #expect(throws: StorageError.self) { try self.root.resolve("nothing") }
    }

    @Test func ambiguousPrefixesAreRefused() throws {
        try write(#"{"snapshots":{"ABC1":{"name":"","created_at":""},"ABC2":{"name":"","created_at":""}}}"# + "\n")
        #expect(performing: { try self.root.resolve("ABC") }, throws: { "\($0)".contains("ambiguous") })
    }

    /// Records as cocoon wrote them come back unchanged; a key only a newer cocoon knows is kept,
    /// after the keys this version knows.
    @Test func aRewriteKeepsEveryOtherRecordByteForByte() throws {
        try write(Self.existing)
        try root.update { index in
            var config = SnapshotConfig()
            config.id = "NEWNEWNEWNEWNEWNEWNEWNEWNE"
            config.name = "new"
            index.snapshots[config.id] = SnapshotRecord(config: config, createdAt: "2026-11-23T00:00:00Z", pending: true, dataDir: "/d")
            index.names["new"] = config.id
        }
        let text = try String(contentsOfFile: "\(directory)/snapshot/db/snapshots.json", encoding: .utf8)
        #expect(text.hasSuffix("}\n"))
        #expect(text.contains(#""3QWZK7Y2ABCDEFGHJKLMNPQRST":{"cpu":2,"memory":2147483648,"image":"ubuntu:24.04","id":"3QWZK7Y2ABCDEFGHJKLMNPQRST","name":"a\u0026b","image_blob_ids":{"ab":{}},"nics":1,"created_at":"2026-04-24T07:51:09.1234+08:00","data_dir":"/var/lib/cocoon/snapshot/localfile/3QWZK7Y2ABCDEFGHJKLMNPQRST","newer_cocoon_key":{"x":[1]}}"#))
        #expect(text.contains(#""NEWNEWNEWNEWNEWNEWNEWNEWNE":{"id":"NEWNEWNEWNEWNEWNEWNEWNEWNE","name":"new","created_at":"2026-11-23T00:00:00Z","pending":true,"data_dir":"/d"}"#))
        var info = stat()
        stat("\(directory)/snapshot/db/snapshots.json", &info)
        #expect(info.st_mode & 0o777 == 0o644)
        // Nothing changed, nothing written.
        let before = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/snapshot/db/snapshots.json"))
        try root.update { _ in }
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/snapshot/db/snapshots.json")) == before)
    }

    @Test func updatesWaitForCocoonsLockOnSnapshotsLock() async throws {
        try write(Self.existing)
        // Another process (as cocoon would) holds the lock for a second.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = ["python3", "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(1.5)",
                            "\(directory)/snapshot/db/snapshots.lock"]
        let out = Pipe()
        holder.standardOutput = out
        try holder.run()
        _ = out.fileHandleForReading.availableData  // "held"
        let start = Date()
        try root.update { $0.names["x"] = "y" }
        #expect(Date().timeIntervalSince(start) > 1.0)
        holder.waitUntilExit()
    }

    /// A pending record is reclaimed when its writer is gone (issue 14, point 2): a Ferry writer's
    /// lock file that nobody holds, or, without one, a record older than a day (cocoon's rule).
    /// A held lock, a young record of cocoon's and a completed record stay.
    @Test func recordsOfWritersThatAreGoneAreReclaimed() throws {
        let ids = ["DEADDEADDEADDEADDEADDEADDE", "LIVELIVELIVELIVELIVELIVELI", "YQUNGYQUNGYQUNGYQUNGYQUNGA", "QLDQLDQLDQLDQLDQLDQLDQLDQL", "DQNEDQNEDQNEDQNEDQNEDQNEDQ"]
        let (dead, live, young, old, done) = (ids[0], ids[1], ids[2], ids[3], ids[4])
        try root.update { index in
            for (id, hoursAgo) in [(dead, 0.1), (live, 0.1), (young, 1.0), (old, 25.0), (done, 0.1)] {
                var config = SnapshotConfig()
                config.id = id
                config.name = "n-\(id.prefix(4))"
                let created = GoJSON.timestamp(Date().addingTimeInterval(-hoursAgo * 3600), in: TimeZone(secondsFromGMT: 3 * 3600)!)
                index.snapshots[id] = SnapshotRecord(
                    config: config, createdAt: created, pending: id != done, dataDir: "\(directory)/snapshot/localfile/\(id)")
                index.names[config.name] = id
            }
        }
        for id in ids {
            try FileManager.default.createDirectory(atPath: "\(directory)/snapshot/localfile/\(id)", withIntermediateDirectories: true)
            try Data("disk".utf8).write(to: URL(fileURLWithPath: "\(directory)/snapshot/localfile/\(id)/disk.raw"))
        }
        // A killed writer's lock file (nobody holds it), a live writer's (held here, through a
        // descriptor of its own), and the lock of a writer killed just after it completed.
        let deadLock = "\(directory)/snapshot/db/.ferry-writer-\(dead).lock"
        let liveLock = "\(directory)/snapshot/db/.ferry-writer-\(live).lock"
        let doneLock = "\(directory)/snapshot/db/.ferry-writer-\(done).lock"
        for path in [deadLock, liveLock, doneLock] { #expect(FileManager.default.createFile(atPath: path, contents: nil)) }
        let held = open(liveLock, O_RDONLY)
        defer { close(held) }
        #expect(flock(held, LOCK_EX) == 0)

        let index = try root.updateReclaiming { $0 }
        #expect(Set(index.snapshots.keys) == [live, young, done])
        #expect(Set(index.names.values) == [live, young, done])
        let data = try FileManager.default.contentsOfDirectory(atPath: "\(directory)/snapshot/localfile")
        #expect(Set(data) == [live, young, done])
        #expect(!FileManager.default.fileExists(atPath: deadLock))
        #expect(!FileManager.default.fileExists(atPath: doneLock))
        #expect(FileManager.default.fileExists(atPath: liveLock))
        #expect(index.snapshots[done]?.pending == false)
        // What the file says agrees.
        #expect(try root.index() == index)
    }

    @Test func goTimestampsReadBack() throws {
        let date = Date(timeIntervalSince1970: 1_777_000_000.25)
        for zone in [TimeZone(secondsFromGMT: 0)!, TimeZone(secondsFromGMT: 8 * 3600)!, TimeZone(secondsFromGMT: -(3 * 3600 + 1800))!] {
            let text = GoJSON.timestamp(date, in: zone)
            #expect(GoJSON.parseTimestamp(text).map { Int($0.timeIntervalSince1970) } == 1_777_000_000, "\(text)")
        }
        for bad in ["", "2026-01-01", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00+0100", "2026-01-01T00:00:00.Zx"] {
            #expect(GoJSON.parseTimestamp(bad) == nil, "\(bad)")
        }
    }
}
