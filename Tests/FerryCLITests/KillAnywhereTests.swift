import Foundation
import Testing

/// Kill anywhere (issue 14, point 7): `ferry copy` into each writable transport is SIGKILLed at
/// random points of its run (`FERRY_KILLS`, default 50 per transport). After each kill the
/// destination is as it was (nothing there, or no snapshot under the name) or valid (`ferry
/// verify`); then a rerun completes (or, when the killed copy had completed a cocoon snapshot,
/// whose name a copy never overwrites, is refused), the result verifies, and no temporary file,
/// lock or spool is left. (On S3 this found SeaweedFS storing an empty object for a small PUT
/// whose client was killed: small writes now carry `Content-MD5`, see S3WholeWriteTests.)
/// Each test prints its counts; the random points come from `FERRY_KILL_SEED` when set.
@Suite struct KillAnywhereTests {
    static let kills = Int(ProcessInfo.processInfo.environment["FERRY_KILLS"] ?? "") ?? 50
    static let seed = UInt64(ProcessInfo.processInfo.environment["FERRY_KILL_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64(UInt32.max))
    static let s3 = ProcessInfo.processInfo.environment["FERRY_TEST_S3_ENDPOINT"] != nil

    /// SplitMix64: the same seed gives the same kill points.
    struct Points {
        var state: UInt64
        mutating func next() -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
    }

    /// One writable transport: where copy number `n` goes, and what "as before" means there.
    struct Target {
        var source: String
        var destination: (Int) -> String
        /// The directory a copy's files go in: no `.ferry-` entry may stay there after a rerun.
        var directory: (Int) -> String?
        /// Whether the destination shows nothing of the killed copy.
        var untouched: (Int) throws -> Bool
        /// `ferry verify`'s argument after the kill (nil: compared by `matches` instead).
        var verifyTarget: (Int) -> String?
        /// For destinations verify cannot read: whether what is there is the whole result.
        var matches: (Int) -> Bool = { _ in true }
        var environment: [String] = []
        /// Whether a copy onto a complete result succeeds (a cocoon name is never overwritten:
        /// once the killed copy had completed the snapshot, the rerun is refused, and still
        /// clears what the killed one left).
        var rewrites = true
    }

    private func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// Every `.ferry-` entry below `path`, and cocoon writer locks.
    private func leftovers(in path: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: path) else { return [] }
        return walker.compactMap { $0 as? String }.filter { ($0 as NSString).lastPathComponent.hasPrefix(".ferry-") || $0.hasSuffix(".ferry-lock") }
    }

    private func target(_ transport: String, scratch: Scratch) throws -> Target {
        let fileSource = { (made: String) in "oci:\(made):v1" }
        let place = { (kind: String, n: Int) in scratch.path("\(kind)-\(n)") }
        switch transport {
        case "oci", "oci-archive", "epoch", "epoch-s3":
            let layout = scratch.path("image")
            if !exists(layout) {
                #expect(try run("python3", [Paths.genLayout, layout, "--size-mib", "16", "--layers", "4", "--tag", "v1"]).status == 0)
            }
            switch transport {
            case "oci":
                return Target(
                    source: fileSource(layout), destination: { "oci:\(place("dst", $0)):v1" }, directory: { place("dst", $0) },
                    untouched: { !self.exists(place("dst", $0)) }, verifyTarget: { "oci:\(place("dst", $0))" })
            case "oci-archive":
                return Target(
                    source: fileSource(layout), destination: { "oci-archive:\(place("dir", $0))/out.tar:v1" }, directory: { place("dir", $0) },
                    untouched: { !self.exists(place("dir", $0) + "/out.tar") }, verifyTarget: { "oci-archive:\(place("dir", $0))/out.tar" })
            case "epoch":
                return Target(
                    source: fileSource(layout), destination: { "epoch:\(place("bucket", $0))#app:v1" }, directory: { place("bucket", $0) },
                    untouched: { !self.exists(place("bucket", $0)) }, verifyTarget: { "epoch:\(place("bucket", $0))" })
            default:
                let environment = ProcessInfo.processInfo.environment
                let bucket = "kill\(Self.seed % 100_000)"
                let value = { (name: String) in environment[name] ?? "" }
                let s3 = ["EPOCH_S3_ENDPOINT=" + value("FERRY_TEST_S3_ENDPOINT"), "EPOCH_S3_ACCESS_KEY=" + value("FERRY_TEST_S3_ACCESS_KEY"),
                          "EPOCH_S3_SECRET_KEY=" + value("FERRY_TEST_S3_SECRET_KEY"), "EPOCH_S3_ENV_FILE=/nonexistent"]
                return Target(
                    source: fileSource(layout), destination: { "epoch:s3://\(bucket)#k\($0)/app:v1" }, directory: { _ in nil },
                    untouched: { n in
                        let listed = try ferryIn(s3, ["ls", "epoch:s3://\(bucket)", "k\(n)/app"])
                        return listed.status != 0 || listed.stdout.isEmpty
                    },
                    verifyTarget: { "epoch:s3://\(bucket)#k\($0)/app:v1" }, environment: s3)
            }
        case "cocoon", "cocoon-archive":
            let root = scratch.path("snapshots")
            let layout = scratch.path("snapshot")
            if !exists(layout) {
                #expect(try run("python3", [Paths.genCocoon, "root", root, "--name", "s", "--disk-size", "\(64 << 20)", "--disk-data", "\(12 << 20)"]).status == 0)
                #expect(try ferry("copy", "--progress", "none", "cocoon:\(root)#s", "oci:\(layout):v1").status == 0)
            }
            if transport == "cocoon" {
                return Target(
                    source: fileSource(layout), destination: { "cocoon:\(place("root", $0))#s" }, directory: { place("root", $0) },
                    untouched: { n in
                        // A pending record is invisible: cocoon and ferry treat it as absent.
                        let listed = try ferry("ls", "cocoon:" + place("root", n))
                        return listed.status != 0 || !listed.stdout.split(separator: "\n").contains("s")
                    },
                    verifyTarget: { "cocoon:\(place("root", $0))#s" }, rewrites: false)
            }
            return Target(
                source: fileSource(layout), destination: { "cocoon-archive:\(place("dir", $0))/s.tar" }, directory: { place("dir", $0) },
                untouched: { !self.exists(place("dir", $0) + "/s.tar") }, verifyTarget: { "cocoon-archive:\(place("dir", $0))/s.tar" })
        default:
            let raw = scratch.path("disk.raw")
            let layout = scratch.path("disk")
            if !exists(layout) {
                var generator = Points(state: 7)
                try Data((0..<(16 << 20)).map { _ in UInt8(truncatingIfNeeded: Int(generator.next() * 256)) }).write(to: URL(fileURLWithPath: raw))
                #expect(try ferry("copy", "--progress", "none", "disk:\(raw)", "oci:\(layout):v1").status == 0)
            }
            let expected = try Data(contentsOf: URL(fileURLWithPath: raw))
            return Target(
                source: fileSource(layout), destination: { "disk:\(place("dir", $0))/out.raw" }, directory: { place("dir", $0) },
                untouched: { !self.exists(place("dir", $0) + "/out.raw") }, verifyTarget: { _ in nil },
                matches: { (try? Data(contentsOf: URL(fileURLWithPath: place("dir", $0) + "/out.raw"))) == expected })
        }
    }

    @Test(arguments: ["oci", "oci-archive", "epoch", "epoch-s3", "cocoon", "cocoon-archive", "disk"])
    func aCopyKilledAnywhereLeavesTheDestinationWholeOrAsItWas(_ transport: String) throws {
        if transport == "epoch-s3", !Self.s3 { return }
        let scratch = try Scratch()
        let target = try target(transport, scratch: scratch)
        for n in 0...Self.kills + 1 {
            if let directory = target.directory(n), transport.hasSuffix("archive") || transport == "disk" {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
        }
        // How long a whole copy takes (the shorter of two, the second with warm caches): the
        // kills fall anywhere in it.
        var span = Double.infinity
        for n in [Self.kills, Self.kills + 1] {
            let started = Date()
            let calibration = try ferryIn(target.environment, ["copy", "--progress", "none", target.source, target.destination(n)])
            #expect(calibration.status == 0, "\(calibration.stderr)")
            span = min(span, max(Date().timeIntervalSince(started), 0.05))
        }

        var points = Points(state: Self.seed ^ transport.utf8.reduce(UInt64(0)) { $0 &* 31 &+ UInt64($1) })
        var (untouched, valid, torn, finished) = (0, 0, 0, 0)
        for n in 0..<Self.kills {
            let copy = try Child("/usr/bin/env", target.environment + [Paths.ferry, "copy", "--progress", "none", target.source, target.destination(n)])
            usleep(useconds_t(points.next() * span * 1.5 * 1_000_000))
            kill(copy.pid, SIGKILL)
            if copy.wait().status == 0 { finished += 1 }
            let context = "\(transport) copy \(n) (FERRY_KILL_SEED=\(Self.seed))"
            let wasUntouched = try target.untouched(n)
            if wasUntouched {
                untouched += 1
            } else if let argument = target.verifyTarget(n) {
                let verified = try ferryIn(target.environment, ["verify", argument])
                if verified.status == 0 {
                    valid += 1
                } else {
                    torn += 1
                    Issue.record("\(context): torn: \(verified.stdout)\(verified.stderr)")
                }
            } else if target.matches(n) {
                valid += 1
            } else {
                torn += 1
                Issue.record("\(context): torn: the destination is neither absent nor whole")
            }
            let rerun = try ferryIn(target.environment, ["copy", "--progress", "none", target.source, target.destination(n)])
            if wasUntouched || target.rewrites {
                #expect(rerun.status == 0, "\(context): the rerun failed: \(rerun.stderr)")
            } else {
                #expect(rerun.status == 1 && rerun.stderr.contains("already in use"), "\(context): \(rerun.stderr)")
            }
            if let argument = target.verifyTarget(n) {
                #expect(try ferryIn(target.environment, ["verify", argument]).status == 0, "\(context): the rerun's result does not verify")
            } else {
                #expect(target.matches(n), "\(context): the rerun's result is not the disk")
            }
            if let directory = target.directory(n) {
                #expect(leftovers(in: directory).isEmpty, "\(context): left \(leftovers(in: directory))")
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
        print("kill-anywhere \(transport): \(Self.kills) kills (\(finished) after the copy had finished), \(untouched) as before, \(valid) valid, \(torn) torn; seed \(Self.seed)")
        #expect(torn == 0)
    }
}
