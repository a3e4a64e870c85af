import Foundation
import Testing
@testable import ferry
import FerryCore
import OCI

/// `--json` on every command that reports, checked against the schema the README documents, and
/// progress that says how long is left (issue 12, points 4 and 5).
@Suite struct JSONOutputTests {
    /// The README's "Machine-readable output" section: each event and the fields it may carry.
    static let documented: [String: Set<String>] = {
        let readme = (try? String(contentsOf: Paths.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""
        guard let start = readme.range(of: "## Machine-readable output") else { return [:] }
        let section = readme[start.upperBound...]
        let end = section.range(of: "\n## ")?.lowerBound ?? section.endIndex
        var events: [String: Set<String>] = [:]
        for line in section[..<end].split(separator: "\n") where line.hasPrefix("- `") {
            let names = line.split(separator: "`").enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
            guard let event = names.first else { continue }
            events[event, default: []].formUnion(names.dropFirst())
        }
        return events
    }()

    /// Runs ferry with `--json` and checks every line: an object with a documented event and only
    /// documented fields, `summary` (or `error`) last.
    func events(_ arguments: [String], status: Int32 = 0, sourceLocation: SourceLocation = #_sourceLocation) throws -> [[String: Any]] {
        let result = try ferry(arguments)
        #expect(result.status == status, "\(arguments): \(result.stderr)", sourceLocation: sourceLocation)
        let lines = result.stdout.split(separator: "\n")
        let objects = jsonLines(result.stdout)
        #expect(objects.count == lines.count && !objects.isEmpty, "every line is a JSON object: \(result.stdout)", sourceLocation: sourceLocation)
        for object in objects {
            let event = object["event"] as? String ?? "(none)"
            let fields = Set(object.keys).subtracting(["event"])
            let known = Self.documented[event]
            #expect(known != nil, "\(arguments): event '\(event)' is not in the README", sourceLocation: sourceLocation)
            #expect(fields.isSubset(of: known ?? []), "\(arguments): \(event) fields \(fields.subtracting(known ?? [])) are not in the README", sourceLocation: sourceLocation)
        }
        let last = objects.last?["event"] as? String
        #expect(last == (status == 0 ? "summary" : "error") || (arguments.first == "verify" && last == "summary"), "\(arguments): last is \(last ?? "nothing")", sourceLocation: sourceLocation)
        return objects
    }

    @Test func everyCommandReportsDocumentedEvents() throws {
        #expect(!Self.documented.isEmpty, "the README documents the events")
        let scratch = try Scratch()
        let layout = scratch.path("layout")
        let sync = try events(["sync", "--json", "oci:\(Paths.fixture("multiarch-layout"))", "oci:\(layout)"])
        #expect(sync.contains { $0["event"] as? String == "plan" } && sync.contains { $0["event"] as? String == "blob" })
        #expect((sync.last?["blobsCopied"] as? Int ?? 0) > 0)

        let copy = try events(["copy", "--json", "oci:\(layout):latest", "oci-archive:\(scratch.path("a.tar")):v1"])
        #expect(copy.last?["tag"] as? String == "v1")

        let listed = try events(["ls", "--json", "oci:\(layout)"])
        #expect(listed.filter { $0["event"] as? String == "tag" }.compactMap { $0["tag"] as? String } == ["latest"])
        #expect(listed.last?["tags"] as? Int == 1)
        let archived = try events(["ls", "--json", "oci-archive:\(scratch.path("a.tar"))"])
        #expect(archived.last?["tags"] as? Int == 1)

        let inspected = try events(["inspect", "--json", "oci:\(layout):latest"])
        #expect(inspected.count == 1 && inspected[0]["kind"] as? String == "image-index")

        let verified = try events(["verify", "--json", "oci:\(layout)"])
        #expect(verified.last?["ok"] as? Bool == true && verified.last?["faults"] as? Int == 0)
        #expect((verified.last?["blobs"] as? Int ?? 0) > 0)

        try FileManager.default.removeItem(atPath: layout + "/index.json")
        try Data(#"{"schemaVersion":2,"manifests":[]}"#.utf8).write(to: URL(fileURLWithPath: layout + "/index.json"))
        let collected = try events(["gc", "--json", "--dry-run", "--grace", "0", "oci:\(layout)"])
        let garbage = collected.filter { $0["event"] as? String == "garbage" }
        #expect(!garbage.isEmpty && garbage.allSatisfy { $0["action"] as? String == "would-remove" })
        #expect(collected.last?["items"] as? Int == garbage.count && collected.last?["dryRun"] as? Bool == true)
    }

    @Test func faultsAndFailuresAreEventsToo() throws {
        let scratch = try Scratch()
        let layout = scratch.path("layout")
        #expect(try ferry("copy", "--progress", "none", "oci:\(Paths.fixture("skopeo-layout"))", "oci:\(layout)").status == 0)
        let (largest, path, _) = try largestBlob(in: layout)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.write(contentsOf: Data([0x42]))
        try handle.close()
        let verified = try events(["verify", "--json", "oci:\(layout)"], status: 1)
        #expect(verified.contains { $0["event"] as? String == "fault" && ($0["subject"] as? String)?.contains(largest) == true })
        #expect(verified.last?["ok"] as? Bool == false)

        let missing = try events(["copy", "--json", "oci:\(layout):nope", "oci:\(scratch.path("b"))"], status: 1)
        #expect(missing.last?["code"] as? String == "MANIFEST_UNKNOWN")
        let failed = try events(["sync", "--json", "oci:\(scratch.path("absent"))", "oci:\(scratch.path("b"))"], status: 1)
        #expect(failed.last?["code"] as? String == "NAME_UNKNOWN")
    }

    /// A reporter fed a 100 MiB blob on a clock the test moves.
    final class Clock: @unchecked Sendable {
        var nanoseconds: UInt64 = 1_000_000_000
        func advance(_ seconds: Double) { nanoseconds += UInt64(seconds * 1e9) }
    }

    func feed(_ mode: ProgressMode, json: Bool, terminal: Bool) -> (text: [String], events: [(String, [String: Any])], clock: Clock, reporter: ProgressReporter) {
        let clock = Clock()
        let output = Buffer()
        let reporter = ProgressReporter(mode: mode, json: json, interval: 5, now: { clock.nanoseconds },
                                        sinks: .init(error: output.write, event: output.record), terminal: terminal)
        let blob = Descriptor(mediaType: MediaType.imageLayerGzip, digest: Digest.compute(Array("blob".utf8)), size: 100 << 20)
        let root = Descriptor(mediaType: MediaType.imageManifest, digest: Digest.compute(Array("root".utf8)), size: 500)
        reporter.handle(.planned(root: root, kind: .containerImage, manifests: 1, blobs: 1, bytes: 100 << 20))
        reporter.handle(.blobStarted(blob))
        for second in 1...8 {
            clock.advance(1)
            reporter.handle(.blobProgress(blob, bytes: Int64(second) * (10 << 20)))
        }
        return (output.texts, output.events, clock, reporter)
    }

    @Test func plainProgressSaysEveryFewSecondsHowLongIsLeft() {
        let (text, _, _, reporter) = feed(.plain, json: false, terminal: false)
        let progress = text.filter { $0.hasPrefix("Progress:") }
        // 8 s of a 10 MiB/s blob: one line at 5 s (not one per chunk, not only at the start and end).
        #expect(progress.count == 1, "\(text)")
        #expect(progress.first?.contains("50.0 MiB of 100.0 MiB (50%)") == true && progress.first?.contains("10.0 MiB/s") == true, "\(progress)")
        #expect(progress.first?.contains("about 5 s left") == true, "\(progress)")
        let status = reporter.status
        #expect(status.done == 80 << 20 && abs((status.secondsLeft ?? 0) - 2) < 0.01)
    }

    @Test func theBarShowsRateAndTimeLeft() {
        let (text, _, _, _) = feed(.auto, json: false, terminal: true)
        let last = text.last ?? ""
        #expect(last.contains("80.0 MiB / 100.0 MiB") && last.contains("10.0 MiB/s") && last.contains("ETA 2 s"), "\(last)")
    }

    @Test func jsonProgressEventsCarryTheEstimate() {
        let (_, events, _, _) = feed(.auto, json: true, terminal: false)
        let progress = events.filter { $0.0 == "progress" }.map(\.1)
        #expect(progress.count == 1)
        #expect(progress.first?["bytes"] as? Int64 == 50 << 20 && progress.first?["secondsLeft"] as? Double == 5)
    }

    @Test func timesLeftReadLikeAClock() {
        #expect(Output.duration(4.2) == "5 s")
        #expect(Output.duration(245) == "4:05")
        #expect(Output.duration(3723) == "1:02:03")
        #expect(Output.duration(.infinity) == "--")
    }
}

/// Output kept in memory: what a reporter writes.
final class Buffer: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var texts: [String] = []
    private(set) var events: [(String, [String: Any])] = []

    func write(_ text: String) { lock.withLock { texts.append(text) } }
    func record(_ event: String, _ fields: [String: Any]) { lock.withLock { events.append((event, fields)) } }
}
