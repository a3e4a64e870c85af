import Foundation
import Testing

/// Nothing blocked, nothing left after a kill (issue 14, point 2): a killed copy into a cocoon
/// root leaves a pending record that the next writer reclaims with its directories; temporary
/// files and spools of killed writers are swept for `epoch:` directories (by copies and by
/// `ferry gc`), `cocoon-archive:` and `disk:`, while those of live writers stay.
@Suite struct LeftoversTests {
    private func entries(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    private func index(_ root: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: root + "/snapshot/db/snapshots.json"))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    @Test func aKilledCopyIntoACocoonRootBlocksNothing() throws {
        let scratch = try Scratch()
        let source = scratch.path("src")
        let layout = scratch.path("layout")
        #expect(try run("python3", [Paths.genCocoon, "root", source, "--name", "mysnap", "--disk-size", "\(64 << 20)", "--disk-data", "\(6 << 20)"]).status == 0)
        #expect(try ferry("copy", "--progress", "none", "cocoon:\(source)#mysnap", "oci:\(layout):v1").status == 0)
        let registry = try RegistryFaultTests.FaultRegistry(scratch, layout: layout)
        let root = scratch.path("root")

        // Blobs come slowly: the record is pending when the copy is killed.
        let copy = try Child(Paths.ferry, ["copy", "--tls-verify=false", "--progress", "none", "docker://\(registry.host)/slow/app:v1", "cocoon:\(root)#s"])
        var waited = 0
        while ((try? String(contentsOfFile: root + "/snapshot/db/snapshots.json", encoding: .utf8)) ?? "").contains("\"pending\":true") == false,
            copy.isRunning, waited < 3000 {
            usleep(10_000)
            waited += 1
        }
        usleep(300_000)
        #expect(copy.isRunning, "the copy is still running")
        kill(copy.pid, SIGKILL)
        #expect(copy.wait().status == 128 + SIGKILL)
        let names = try index(root)["names"] as? [String: String] ?? [:]
        let killed = try #require(names["s"])
        #expect(entries(root + "/snapshot/db").contains(".ferry-writer-\(killed).lock"))
        #expect(entries(root + "/snapshot/localfile") == [killed])

        // The next writer finds the killed one's lock free and takes the name back.
        let rerun = try ferry("copy", "--progress", "none", "oci:\(layout):v1", "cocoon:\(root)#s")
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let after = try index(root)
        let id = try #require((after["names"] as? [String: String])?["s"])
        #expect(id != killed)
        #expect((after["snapshots"] as? [String: Any])?.keys.sorted() == [id])
        #expect(((after["snapshots"] as? [String: Any])?[id] as? [String: Any])?["pending"] == nil)
        #expect(entries(root + "/snapshot/localfile") == [id])
        #expect(entries(root + "/snapshot/db") == ["snapshots.json", "snapshots.lock"])
        #expect(entries(root + "/snapshot").allSatisfy { !$0.hasPrefix(".ferry-") }, "\(entries(root + "/snapshot"))")
        #expect(try ferry("verify", "cocoon:\(root)#s").status == 0)
    }

    /// A temporary file or spool directory that a test process holds locked, as a live writer does.
    private final class LiveWriter {
        let fd: Int32
        init(_ path: String, directory: Bool = false) throws {
            if directory {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
                fd = open(path, O_RDONLY | O_DIRECTORY)
            } else {
                fd = open(path, O_RDWR | O_CREAT, 0o644)
            }
            #expect(fd >= 0 && flock(fd, LOCK_EX) == 0)
        }
        deinit { close(fd) }
    }

    /// What a killed writer leaves: a temporary file, and a spool directory with a blob in it.
    private func plantDead(in directory: String) throws -> [String] {
        let file = directory + "/.ferry-0badc0ffee.tmp"
        let spool = directory + "/.ferry-spool-0dead.tmp"
        try Data(repeating: 1, count: 4096).write(to: URL(fileURLWithPath: file))
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        try Data(repeating: 2, count: 4096).write(to: URL(fileURLWithPath: spool + "/blob"))
        return [file, spool]
    }

    @Test func killedWritersTemporaryFilesAreSweptAndLiveOnesKept() throws {
        let scratch = try Scratch()
        let fixture = "oci:\(Paths.fixture("umoci-layout"))"

        // epoch: directory: by the next copy, anywhere in the bucket.
        let bucket = scratch.path("bucket")
        #expect(try ferry("copy", "--progress", "none", "\(fixture):v1", "epoch:\(bucket)#app:v1").status == 0)
        let blobs = bucket + "/epoch/blobs/sha256"
        var dead = try plantDead(in: blobs) + plantDead(in: bucket)
        let live = try LiveWriter(blobs + "/.ferry-1ive.tmp")
        #expect(try ferry("copy", "--progress", "none", "\(fixture):v2", "epoch:\(bucket)#app:v2").status == 0)
        #expect(dead.allSatisfy { !FileManager.default.fileExists(atPath: $0) }, "\(entries(blobs))")
        #expect(FileManager.default.fileExists(atPath: blobs + "/.ferry-1ive.tmp"))

        // … and by ferry gc, which says so.
        dead = try plantDead(in: blobs)
        let gc = try ferry("gc", "epoch:\(bucket)")
        #expect(gc.status == 0 && gc.stdout.contains("2 temporary file(s) of killed writers removed"), "\(gc.stdout)\(gc.stderr)")
        #expect(dead.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
        #expect(FileManager.default.fileExists(atPath: blobs + "/.ferry-1ive.tmp"))
        #expect(try ferry("verify", "epoch:\(bucket)").status == 0)
        _ = live

        // cocoon-archive: and disk:, beside the file they write.
        let snapshots = scratch.path("cocoon")
        #expect(try run("python3", [Paths.genCocoon, "root", snapshots, "--name", "mysnap"]).status == 0)
        let raw = scratch.path("disk.raw")
        try Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: URL(fileURLWithPath: raw))
        #expect(try ferry("copy", "--progress", "none", "disk:\(raw)", "oci:\(scratch.path("image")):v1").status == 0)
        for (source, destination, file) in [("cocoon:\(snapshots)#mysnap", "cocoon-archive:", "out.tar"), ("oci:\(scratch.path("image")):v1", "disk:", "out.raw")] {
            let directory = scratch.path("out-\(destination.dropLast())")
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let killed = try plantDead(in: directory)
            let alive = try LiveWriter(directory + "/.ferry-spool-1ive.tmp", directory: true)
            let copy = try ferry("copy", "--progress", "none", source, "\(destination)\(directory)/\(file)")
            #expect(copy.status == 0, "\(copy.stderr)")
            #expect(entries(directory) == [".ferry-spool-1ive.tmp", file], "\(destination)")
            _ = alive
            _ = killed
        }
    }
}
