import Foundation
import OCI
import Testing

/// The outcome of running a program.
struct Run {
    var status: Int32
    var stdout: String
    var stderr: String

    /// stderr's non-empty lines.
    var errorLines: [Substring] { stderr.split(separator: "\n") }
}

enum Paths {
    /// The package root, found from this file.
    static let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `ferry` executable built beside the test bundle (or `FERRY_BIN`).
    static let ferry: String = {
        if let explicit = ProcessInfo.processInfo.environment["FERRY_BIN"] { return explicit }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("ferry").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return packageRoot.appendingPathComponent(".build/debug/ferry").path
    }()

    static func fixture(_ name: String) -> String {
        packageRoot.appendingPathComponent("fixtures").appendingPathComponent(name).path
    }

    static let genLayout = packageRoot.appendingPathComponent("scripts/gen-layout.py").path
    static let genCocoon = packageRoot.appendingPathComponent("scripts/gen-cocoon.py").path
}

/// Runs `executable` with `arguments` and collects its output.
@discardableResult
func run(_ executable: String, _ arguments: [String]) throws -> Run {
    try Child(executable, arguments).wait()
}

/// A program started with posix_spawn, its output going to temporary files. Foundation's
/// `Process` sometimes never notices that a child exited (a zombie `bash` that had started a
/// daemon hung a test for minutes), so tests wait with `waitpid` on the child's own pid.
final class Child {
    let pid: pid_t
    private let outputs: [String]
    private var status: Int32?

    /// Starts `executable` (looked up in PATH unless absolute) with stdin from /dev/null.
    init(_ executable: String, _ arguments: [String]) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-child-\(UUID().uuidString.prefix(8))").path
        outputs = [base + ".out", base + ".err"]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputs[0], O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, outputs[1], O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let result = executable.hasPrefix("/")
            ? posix_spawn(&child, executable, &actions, nil, argv, environ)
            : posix_spawnp(&child, executable, &actions, nil, argv, environ)
        guard result == 0 else {
            throw NSError(domain: NSPOSIXErrorDomain, code: Int(result), userInfo: [NSLocalizedDescriptionKey: "cannot start \(executable)"])
        }
        pid = child
    }

    /// What the program has written to stderr so far.
    var stderrSoFar: String { (try? String(contentsOfFile: outputs[1], encoding: .utf8)) ?? "" }

    /// The CPU time (user and system) the program used, once it has ended.
    private(set) var cpuSeconds: Double = 0

    /// Whether the program still runs (reaps it when it has ended).
    var isRunning: Bool {
        guard status == nil else { return false }
        var raw: Int32 = 0
        var usage = rusage()
        guard wait4(pid, &raw, WNOHANG, &usage) == pid else { return true }
        ended(raw, usage)
        return false
    }

    /// Waits for the end and returns the exit status (128 + N after signal N) and the output.
    func wait() -> Run {
        if status == nil {
            var raw: Int32 = 0
            var usage = rusage()
            while wait4(pid, &raw, 0, &usage) < 0 && errno == EINTR {}
            ended(raw, usage)
        }
        let texts = outputs.map { (try? String(contentsOfFile: $0, encoding: .utf8)) ?? "" }
        return Run(status: status!, stdout: texts[0], stderr: texts[1])
    }

    private func ended(_ raw: Int32, _ usage: rusage) {
        status = Self.decode(raw)
        cpuSeconds = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    private static func decode(_ raw: Int32) -> Int32 {
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }

    deinit {
        if status == nil { kill(pid, SIGKILL); _ = wait() }
        outputs.forEach { unlink($0) }
    }
}

/// Runs the `ferry` under test.
@discardableResult
func ferry(_ arguments: String...) throws -> Run {
    try run(Paths.ferry, arguments)
}

/// Runs the `ferry` under test with a list of arguments.
@discardableResult
func ferry(_ arguments: [String]) throws -> Run {
    try run(Paths.ferry, arguments)
}

/// Runs the `ferry` under test with `NAME=VALUE` settings added to its environment.
@discardableResult
func ferryIn(_ environment: [String], _ arguments: [String]) throws -> Run {
    try Child("/usr/bin/env", environment + [Paths.ferry] + arguments).wait()
}

/// A fresh directory under the system's temporary directory, removed by `cleanup()`.
final class Scratch {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Every file under `directory` with its bytes: to show a tree was left as it was.
func snapshot(_ directory: String) -> [String: Data] {
    var result: [String: Data] = [:]
    guard let walker = FileManager.default.enumerator(atPath: directory) else { return result }
    while let relative = walker.nextObject() as? String {
        let full = (directory as NSString).appendingPathComponent(relative)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue {
            result[relative] = FileManager.default.contents(atPath: full)
        }
    }
    return result
}

/// The largest blob of a layout (sha256): its hex name, path and size.
func largestBlob(in layout: String) throws -> (hex: String, path: String, size: Int) {
    let blobs = layout + "/blobs/sha256"
    var found: (hex: String, path: String, size: Int) = ("", "", -1)
    for name in try FileManager.default.contentsOfDirectory(atPath: blobs) {
        let path = "\(blobs)/\(name)"
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        if size > found.size { found = (name, path, size) }
    }
    return found
}

/// The JSON objects of `--json` output, one per line.
func jsonLines(_ text: String) -> [[String: Any]] {
    text.split(separator: "\n").compactMap {
        try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
}

/// The digest that `skopeo inspect` reports for a reference.
func skopeoDigest(_ reference: String) throws -> String? {
    let result = try run("skopeo", ["inspect", "--raw", reference])
    guard result.status == 0 else { return nil }
    return Digest.compute(Array(result.stdout.utf8)).description
}

/// Whether an external tool is installed (interop tests need it; `make test` installs them).
func have(_ tool: String) -> Bool {
    (try? run("sh", ["-c", "command -v \(tool)"]))?.status == 0
}
