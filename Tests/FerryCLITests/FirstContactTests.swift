import Foundation
import Testing

/// A user's first minute: help, usage errors, completions (issue 12, points 1–3).
@Suite struct FirstContactTests {
    static let commands = ["copy", "sync", "inspect", "ls", "verify", "gc"]

    @Test(arguments: [[], ["--help"], ["-h"], ["help"]] + commands.flatMap { [["help", $0], [$0, "--help"], [$0, "-h"]] })
    func helpPrintsUsageAndExitsZero(_ arguments: [String]) throws {
        let result = try ferry(arguments)
        #expect(result.status == 0, "\(arguments): \(result.stderr)")
        #expect(result.stderr.isEmpty, "\(arguments): \(result.stderr)")
        #expect(result.stdout.contains("USAGE: ferry"), "\(arguments): \(result.stdout)")
        #expect(!result.stdout.contains("CommandError"))
        if let command = arguments.first(where: Self.commands.contains) {
            #expect(result.stdout.contains("Examples:") && result.stdout.contains("ferry \(command) "), "\(arguments): \(result.stdout)")
        } else {
            #expect(result.stdout.contains("oci-archive:FILE") && result.stdout.contains("SUBCOMMANDS"))
        }
    }

    @Test func versionPrintsTheVersion() throws {
        let result = try ferry("--version")
        #expect(result.status == 0 && result.stdout == "0.1.0\n")
    }

    /// Each command with a malformed reference or location in each place it takes one, an
    /// unknown option and a missing argument: status 2, one line that says what is wrong.
    static let usageErrors: [(arguments: [String], says: String)] = {
        var cases: [([String], String)] = []
        let good = "oci:/nonexistent/layout"
        let malformed = [("layout", "no transport prefix"), ("oci:", "path"), ("nope:x", "unknown transport")]
        let places: [[String]] = [["copy", "X", good], ["copy", good, "X"], ["sync", "X", good], ["sync", good, "X"],
                                  ["inspect", "X"], ["ls", "X"], ["verify", "X"], ["gc", "X"]]
        for place in places {
            for (text, says) in malformed {
                cases.append((place.map { $0 == "X" ? text : $0 }, says))
            }
            cases.append((place.map { $0 == "X" ? good : $0 } + ["--no-such-option"], "Unknown option '--no-such-option'"))
            cases.append((Array(place.prefix { $0 != "X" }), "Missing expected argument"))
        }
        // A bad digest where a reference is read.
        for place in [["copy", "X", good], ["inspect", "X"], ["verify", "X"]] {
            cases.append((place.map { $0 == "X" ? "oci:/l@sha256:abc" : $0 }, "64 hex characters"))
        }
        cases.append((["copy", good, "oci:/b@sha256:" + String(repeating: "0", count: 64)], "a destination takes a tag, not a digest"))
        cases.append((["copy", "--all-tags", good + ":v1", "oci:/b"], "--all-tags copies every tag"))
        cases.append((["copy", "--platform", "linux", good, "oci:/b"], "--platform linux"))
        cases.append((["copy", "--jobs", "0", good, "oci:/b"], "--jobs 0"))
        cases.append((["inspect", "--created", "yesterday", good + ":v1"], "--created yesterday"))
        cases.append((["gc", "--grace", "soon", good], "--grace soon"))
        return cases
    }()

    @Test(arguments: usageErrors.indices)
    func usageErrorsExitTwoWithOneLine(_ index: Int) throws {
        let (arguments, says) = Self.usageErrors[index]
        let result = try ferry(arguments)
        #expect(result.status == 2, "\(arguments): \(result.status) \(result.stderr)")
        #expect(result.errorLines.count == 1 && result.stderr.hasPrefix("ferry: ") && result.stderr.contains(says), "\(arguments): \(result.stderr)")
        #expect(result.stdout.isEmpty)
        if says.contains("transport") || says == "path" || says.contains("hex") {
            #expect(result.stderr.contains("oci-archive:FILE"), "the forms are named: \(result.stderr)")
        }
    }

    @Test func aUsageErrorIsAlsoAJSONEventWithJSON() throws {
        let result = try ferry("ls", "--json", "layout")
        #expect(result.status == 2)
        let event = try #require(jsonLines(result.stdout).last)
        #expect(event["event"] as? String == "error" && event["code"] as? String == "USAGE" && event["status"] as? Int == 2)
        #expect((event["message"] as? String)?.contains("no transport prefix") == true)
    }

    @Test func aRuntimeFailureExitsOne() throws {
        let result = try ferry("inspect", "--json", "oci:\(Paths.fixture("skopeo-layout")):no-such-tag")
        #expect(result.status == 1 && result.errorLines.count == 1)
        let event = try #require(jsonLines(result.stdout).last)
        #expect(event["event"] as? String == "error" && event["code"] as? String == "MANIFEST_UNKNOWN" && event["status"] as? Int == 1)
        #expect(result.stderr == "ferry: \(event["message"] as! String)\n")
    }

    /// The scripts argument-parser generates, loaded into each shell as a user would, offer the
    /// transports and then paths: typed into a real interactive shell in a pseudo-terminal.
    @Test(arguments: ["bash", "zsh", "fish"])
    func completionsOfferTransportsThenPaths(_ shell: String) throws {
        let scratch = try Scratch()
        try FileManager.default.createDirectory(atPath: scratch.path("mylayout"), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: scratch.path("app.tar"), contents: Data())
        let lines = ["ferry copy oci-ar", "ferry copy oci:my", "ferry copy oci:mylayout:v1 oci-archive:a", "ferry sync epoch:my", "ferry co"]
        let result = try run("python3", [Paths.packageRoot.appendingPathComponent("scripts/complete-in-shell.py").path, shell, Paths.ferry, scratch.path("")] + lines)
        #expect(result.status == 0, "\(result.stderr)")
        let got = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let expected = shell == "fish"
            ? ["oci-archive:", "oci:mylayout/", "oci-archive:app.tar", "epoch:mylayout/", "copy"]
            : ["ferry copy oci-archive:", "ferry copy oci:mylayout/", "ferry copy oci:mylayout:v1 oci-archive:app.tar", "ferry sync epoch:mylayout/", "ferry copy"]
        #expect(Array(got.prefix(expected.count)) == expected, "\(shell): \(result.stdout)")
    }

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionScriptsAreGenerated(_ shell: String) throws {
        let result = try ferry("--generate-completion-script", shell)
        #expect(result.status == 0 && result.stdout.contains("---completion copy"), "\(shell): \(result.stderr)")
    }
}
