import Foundation
import Testing

/// A killed copy leaves a valid layout; a rerun moves only what is missing; concurrent writers
/// keep each other's tags; temporary files of killed writers are swept.
@Suite(.serialized) struct CrashSafetyTests {
    /// Non-temporary blob files in a layout.
    private func blobs(_ layout: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: layout + "/blobs/sha256")) ?? []).filter { !$0.hasPrefix(".") }
    }

    @Test func killedCopyLeavesAValidLayoutAndARerunMovesOnlyTheRest() throws {
        let scratch = try Scratch()
        let source = scratch.path("big")
        let made = try run("python3", [Paths.genLayout, source, "--size-mib", "384", "--layers", "12", "--tag", "big"])
        #expect(made.status == 0, "\(made.stderr)")
        let total = blobs(source).count - 1  // every blob but the manifest
        let dst = scratch.path("dst")

        let process = Process()
        process.executableURL = URL(fileURLWithPath: Paths.ferry)
        process.arguments = ["copy", "--progress", "none", "--jobs", "1", "oci:\(source):big", "oci:\(dst):big"]
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while blobs(dst).count < 3, process.isRunning, Date() < deadline { usleep(2_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal, "the copy finished before it could be killed")

        let present = blobs(dst).count
        #expect(present >= 3 && present < total)
        // What is there is a valid layout: no tag yet, every blob present matches its name.
        #expect(try ferry("verify", "oci:\(dst)").status == 0)
        #expect(try run("oci-image-tool", ["validate", "--type", "image", dst]).status != 2)
        #expect(try ferry("ls", "oci:\(dst)").stdout.isEmpty)

        let rerun = try ferry("copy", "--json", "oci:\(source):big", "oci:\(dst):big")
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let events = jsonLines(rerun.stdout)
        let copied = events.filter { $0["event"] as? String == "blob" && $0["action"] as? String == "copied" }.count
        let skipped = events.filter { $0["event"] as? String == "blob" && $0["action"] as? String == "skipped" }.count
        #expect(skipped == present)
        #expect(copied == total - present)
        #expect(try ferry("verify", "oci:\(dst)").status == 0)
        #expect(try run("oci-image-tool", ["validate", "--type", "image", dst]).status == 0)
        // The killed writer's temporary file was swept by the rerun.
        let leftovers = (try FileManager.default.contentsOfDirectory(atPath: dst + "/blobs/sha256")).filter { $0.hasPrefix(".ferry-") }
        #expect(leftovers.isEmpty)
    }

    @Test func concurrentWritersKeepEachOthersTags() throws {
        let scratch = try Scratch()
        let dst = scratch.path("shared")
        let sources = [
            ("oci:\(Paths.fixture("umoci-layout")):v1", "a"), ("oci:\(Paths.fixture("umoci-layout")):v2", "b"),
            ("oci:\(Paths.fixture("skopeo-layout")):v1", "c"), ("oci:\(Paths.fixture("multiarch-layout")):latest", "d"),
            ("oci:\(Paths.fixture("umoci-layout")):v2", "e"), ("oci:\(Paths.fixture("multiarch-layout")):latest", "f"),
        ]
        let processes = try sources.map { source, tag in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Paths.ferry)
            process.arguments = ["copy", "--progress", "none", "--all", source, "oci:\(dst):\(tag)"]
            try process.run()
            return process
        }
        for process in processes {
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
        }
        let tags = try ferry("ls", "oci:\(dst)").stdout.split(separator: "\n").map(String.init)
        #expect(Set(tags) == ["a", "b", "c", "d", "e", "f"])
        #expect(try ferry("verify", "oci:\(dst)").status == 0)
    }

    @Test func staleTemporaryFilesAreSweptOnTheNextWrite() throws {
        let scratch = try Scratch()
        let dst = scratch.path("layout")
        #expect(try ferry("copy", "--progress", "none", "oci:\(Paths.fixture("umoci-layout")):v1", "oci:\(dst)").status == 0)
        let stale = dst + "/blobs/sha256/.ferry-deadbeef.tmp"
        try Data(repeating: 7, count: 4096).write(to: URL(fileURLWithPath: stale))
        #expect(try ferry("verify", "oci:\(dst)").status == 0)
        #expect(try ferry("copy", "--progress", "none", "oci:\(Paths.fixture("umoci-layout")):v2", "oci:\(dst)").status == 0)
        #expect(!FileManager.default.fileExists(atPath: stale))
    }
}
