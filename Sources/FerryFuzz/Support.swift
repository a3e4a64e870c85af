import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Stops the run when a property the parser promises does not hold; libFuzzer reports the trap
/// as a crash and keeps the input.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("property does not hold: \(message())", file: file, line: line) }
}

/// A file for the parsers that read a path: one per process, in `$TMPDIR`, removed at exit.
enum ScratchFile {
    private static let directory: String = {
        var template = Array(((ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") + "/ferry-fuzz.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { fatalError("cannot make a scratch directory") }
        let path = String(cString: made)
        atexit { ScratchFile.removeAll() }
        return path
    }()

    /// The path of the scratch file, now holding `bytes`.
    static func write(_ bytes: [UInt8], name: String = "input") -> String {
        let path = directory + "/" + name
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { fatalError("cannot write \(path)") }
        return path
    }

    private static func removeAll() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Runs async code to its end from libFuzzer's synchronous callback.
func blocking<T>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}
