import Foundation
import Testing

/// Runs ferry to its end under `/usr/bin/time` (a small process, so that the peak RSS is ferry's
/// own: a program spawned straight from the test process inherits its high-water mark across
/// exec); its status, CPU seconds and peak RSS.
func measure(_ arguments: [String], environment: [String] = []) throws -> (run: Run, cpu: Double, peakMiB: Double) {
    let report = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-time-\(UUID().uuidString.prefix(8))").path
    defer { unlink(report) }
    let child = try Child("/usr/bin/env", environment + ["/usr/bin/time", "-f", "%M %U %S", "-o", report, Paths.ferry] + arguments)
    let result = child.wait()
    let fields = ((try? String(contentsOfFile: report, encoding: .utf8)) ?? "").split(whereSeparator: \.isWhitespace).suffix(3).compactMap { Double($0) }
    guard fields.count == 3 else { return (result, child.cpuSeconds, .infinity) }
    return (result, fields[1] + fields[2], fields[0] / 1024)
}

/// Time linear in the input, memory bounded by configuration (issue 14, points 3 and 4). Times
/// are compared as ratios of CPU time between a small and a four times larger input of the same
/// run (linear: about 4; quadratic: about 16), never against a clock.
@Suite struct BoundsTests {
    /// Runs ferry to its end; its status, CPU seconds and peak RSS.
    private func measured(_ arguments: [String], environment: [String] = []) throws -> (run: Run, cpu: Double, peakMiB: Double) {
        try measure(arguments, environment: environment)
    }

    @Test(arguments: ["oci", "epoch"])
    func syncTimeIsLinearInTheNumberOfTags(_ transport: String) throws {
        let scratch = try Scratch()
        var cpu: [Double] = []
        for count in [250, 1000] {
            let source = scratch.path("src-\(count)")
            #expect(try run("python3", [Paths.genLayout, source, "--size-mib", "0.01", "--layers", "1", "--tags", "\(count)", "--tag", "app:t"]).status == 0)
            let destination = scratch.path("dst-\(count)")
            let sync = try measured(["sync", "--progress", "none", "oci:\(source)", "\(transport):\(destination)"])
            #expect(sync.run.status == 0, "\(sync.run.stderr)")
            let listed = try ferry("ls", transport == "oci" ? "oci:\(destination)" : "epoch:\(destination)", transport == "oci" ? "app" : "app")
            #expect(listed.stdout.split(separator: "\n").count == count)
            cpu.append(sync.cpu)
        }
        #expect(cpu[1] / max(cpu[0], 0.05) < 8, "250 tags: \(cpu[0]) s, 1000 tags: \(cpu[1]) s of CPU")
    }

    /// A disk whose sparse map has many runs is restored in time linear in the runs (the map
    /// travels as a JSON string inside the snapshot config: escaped quotes by the hundred thousand).
    @Test func restoringASparseDiskIsLinearInItsRuns() throws {
        let scratch = try Scratch()
        let root = scratch.path("root")
        let layout = scratch.path("layout")
        #expect(try run("python3", [Paths.genCocoon, "root", root, "--name", "s"]).status == 0)
        #expect(try ferry("copy", "--progress", "none", "cocoon:\(root)#s", "oci:\(layout):v1").status == 0)
        var cpu: [Double] = []
        for runs in [20_000, 80_000] {
            let copy = scratch.path("layout-\(runs)")
            #expect(try run("cp", ["-r", layout, copy]).status == 0)
            #expect(try run("python3", [Paths.packageRoot.appendingPathComponent("scripts/gen-sparse-layout.py").path, copy, "v1", "\(runs)"]).status == 0)
            let restore = try measured(["copy", "--progress", "none", "oci:\(copy):v1", "cocoon:\(scratch.path("restored-\(runs)"))#s"])
            #expect(restore.run.status == 0, "\(restore.run.stderr)")
            #expect(restore.peakMiB < 128, "\(runs) runs: peak RSS \(restore.peakMiB) MiB")
            cpu.append(restore.cpu)
        }
        #expect(cpu[1] / max(cpu[0], 0.05) < 8, "20,000 runs: \(cpu[0]) s, 80,000 runs: \(cpu[1]) s of CPU")
    }

    /// An export whose disk has a sparse map of many runs (one PAX record of 1.2 MB for 50,000,
    /// as `cocoon snapshot export` writes it) is restored in time linear in the runs.
    @Test func restoringAnExportOfAFragmentedDiskIsLinearInItsRuns() throws {
        let scratch = try Scratch()
        var cpu: [Double] = []
        for runs in [12_500, 50_000] {
            let archive = scratch.path("export-\(runs).tar")
            #expect(try run("python3", [Paths.packageRoot.appendingPathComponent("scripts/gen-hostile.py").path, "sparse-export", archive, "\(runs)"]).status == 0)
            let root = scratch.path("root-\(runs)")
            let restore = try measured(["copy", "--progress", "none", "cocoon-archive:\(archive)", "cocoon:\(root)#s"])
            #expect(restore.run.status == 0, "\(restore.run.stderr)")
            #expect(restore.peakMiB < 128, "\(runs) runs: peak RSS \(restore.peakMiB) MiB")
            #expect(try ferry("verify", "cocoon:\(root)#s").status == 0)
            cpu.append(restore.cpu)
        }
        #expect(cpu[1] / max(cpu[0], 0.05) < 8, "12,500 runs: \(cpu[0]) s, 50,000 runs: \(cpu[1]) s of CPU")
    }

    /// A compressed layout archive of many small distinct blobs (400 MiB of them in a 2 MB
    /// `.tar.gz`): memory stays bounded (the scan keeps 32 MiB of small blobs in memory, the rest
    /// in a nameless temporary file), and the copy is whole.
    @Test func manySmallBlobsInACompressedArchiveStayOutOfMemory() throws {
        let scratch = try Scratch()
        let archive = scratch.path("small.tar.gz")
        #expect(try run("python3", [Paths.packageRoot.appendingPathComponent("scripts/gen-hostile.py").path, "small-blobs", archive, "400"]).status == 0)
        let inspected = try measured(["inspect", "oci-archive:\(archive):v1"])
        #expect(inspected.run.status == 0, "\(inspected.run.stderr)")
        #expect(inspected.peakMiB < 128, "inspect: peak RSS \(inspected.peakMiB) MiB")
        let copied = try measured(["copy", "--progress", "none", "oci-archive:\(archive):v1", "oci:\(scratch.path("copy")):v1"])
        #expect(copied.run.status == 0, "\(copied.run.stderr)")
        #expect(copied.peakMiB < 128, "copy: peak RSS \(copied.peakMiB) MiB")
        #expect(try ferry("verify", "oci:\(scratch.path("copy")):v1").status == 0)
    }

    /// A cocoon export with sixty 1 MiB PAX headers before one entry (more than the 32 MiB an
    /// entry may carry), or 20,000 entries: refused at once, in bounded memory, with one line.
    @Test(arguments: [("pax-headers", "60", "extended headers"), ("many-entries", "20000", "more than 10000 entries")])
    func hostileExportsAreRefusedInBoundedMemory(_ kind: String, _ count: String, _ reason: String) throws {
        let scratch = try Scratch()
        let archive = scratch.path("export.tar")
        #expect(try run("python3", [Paths.packageRoot.appendingPathComponent("scripts/gen-hostile.py").path, kind, archive, count]).status == 0)
        let inspected = try measured(["inspect", "cocoon-archive:\(archive)"])
        #expect(inspected.run.status == 1 && inspected.run.errorLines.count == 1 && inspected.run.stderr.contains(reason), "\(inspected.run.stderr)")
        #expect(inspected.peakMiB < 128, "peak RSS \(inspected.peakMiB) MiB")
    }
}

/// Every network wait has a deadline (issue 14, point 5): an S3 endpoint or a registry that
/// accepts and never answers fails the command after the idle timeout (`--timeout`) and a bounded
/// number of retries; an S3 listing that repeats its continuation token stops.
@Suite struct DeadlineTests {
    final class FaultS3 {
        let child: Child
        let endpoint: String

        init(_ scratch: Scratch) throws {
            let portFile = scratch.path("s3-port")
            child = try Child("python3", [Paths.packageRoot.appendingPathComponent("scripts/fault-s3.py").path, portFile])
            var port: String?
            for _ in 0..<100 where port == nil {
                port = try? String(contentsOfFile: portFile, encoding: .utf8)
                if port == nil { usleep(50_000) }
            }
            endpoint = "http://127.0.0.1:\(port ?? "0")"
        }

        /// ferry with this endpoint as its S3 (signatures are not checked).
        func ferry(_ arguments: [String]) throws -> (run: Run, seconds: Double, peakMiB: Double) {
            let started = Date()
            let result = try measure(arguments, environment: ["EPOCH_S3_ENDPOINT=\(endpoint)", "EPOCH_S3_ACCESS_KEY=test", "EPOCH_S3_SECRET_KEY=test",
                                                              "EPOCH_S3_ENV_FILE=/nonexistent"])
            return (result.run, Date().timeIntervalSince(started), result.peakMiB)
        }

        deinit { kill(child.pid, SIGKILL) }
    }

    @Test func aSilentS3EndpointFailsAfterTheIdleTimeout() throws {
        let scratch = try Scratch()
        let s3 = try FaultS3(scratch)
        let listed = try s3.ferry(["ls", "--timeout", "1s", "epoch:s3://silent"])
        #expect(listed.run.status == 1, "\(listed.run.stderr)")
        #expect(listed.run.errorLines.count == 1 && listed.run.stderr.contains("sent nothing for 1 s"), "\(listed.run.stderr)")
        // One idle timeout per attempt, and retries only within twice the timeout: seconds, not
        // the minutes of five full attempts or a 30-minute request deadline.
        #expect(listed.seconds < 20, "took \(listed.seconds) s")
    }

    @Test func anS3ListingThatRepeatsItsContinuationTokenStops() throws {
        let scratch = try Scratch()
        let s3 = try FaultS3(scratch)
        let listed = try s3.ferry(["ls", "epoch:s3://looping", "app"])
        #expect(listed.run.status == 1, "\(listed.run.stderr)")
        #expect(listed.run.stderr.contains("continuation token repeated"), "\(listed.run.stderr)")
        #expect(listed.peakMiB < 128, "peak RSS \(listed.peakMiB) MiB")
    }

    @Test func aSilentRegistryFailsAfterTheIdleTimeout() throws {
        let scratch = try Scratch()
        let registry = try RegistryFaultTests.FaultRegistry(scratch)
        let started = Date()
        let inspected = try ferry("inspect", "--timeout", "1s", "--retry-times", "5", "--tls-verify=false", "docker://\(registry.host)/silent/app:v1")
        #expect(inspected.status == 1 && inspected.errorLines.count == 1, "\(inspected.stderr)")
        #expect(inspected.stderr.contains("sent nothing for 1 s"), "\(inspected.stderr)")
        #expect(Date().timeIntervalSince(started) < 20)
    }

    @Test func aTimeoutThatIsNotADurationIsAUsageError() throws {
        let result = try ferry("ls", "--timeout", "soon", "oci:/nonexistent")
        #expect(result.status == 2 && result.stderr.contains("--timeout soon"), "\(result.stderr)")
    }
}
