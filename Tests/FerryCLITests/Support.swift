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
}

/// Runs `executable` with `arguments` and collects its output.
@discardableResult
func run(_ executable: String, _ arguments: [String]) throws -> Run {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
    process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Run(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
}

/// Runs the `ferry` under test.
@discardableResult
func ferry(_ arguments: String...) throws -> Run {
    try run(Paths.ferry, arguments)
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
