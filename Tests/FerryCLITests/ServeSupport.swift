import Foundation
import OCI
import Testing

/// `ferry serve` started by a test on a free port of 127.0.0.1, stopped by PID.
final class Served {
    let child: Child
    /// `127.0.0.1:PORT`.
    let address: String
    private(set) var scheme = "http"

    /// Starts `ferry serve ARGUMENTS --addr 127.0.0.1:0` and waits for its start-up line.
    init(_ arguments: [String], environment: [String] = []) throws {
        child = try Child("/usr/bin/env", environment + [Paths.ferry, "serve", "--addr", "127.0.0.1:0"] + arguments)
        var found: String?
        var scheme = "http"
        for _ in 0..<600 {
            if let line = child.stderrSoFar.split(separator: "\n").first(where: { $0.contains(" on http") }) {
                found = line.components(separatedBy: "://").last
                scheme = line.contains(" on https://") ? "https" : "http"
                break
            }
            guard child.isRunning else { break }
            usleep(20_000)
        }
        guard let found else {
            throw NSError(domain: "Served", code: 1, userInfo: [NSLocalizedDescriptionKey: "ferry serve did not start: \(child.stderrSoFar)"])
        }
        address = found
        self.scheme = scheme
    }

    var url: String { "\(scheme)://\(address)" }

    /// Sends `signal` and waits for the end.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM) -> Run {
        kill(child.pid, signal)
        return child.wait()
    }

    deinit { if child.isRunning { stop(SIGKILL) } }
}

/// One HTTP exchange through curl: status, headers (names lowercased), body.
struct HTTPExchange {
    let status: Int
    let headers: [String: String]
    let body: Data

    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any]? { try? JSONSerialization.jsonObject(with: body) as? [String: Any] }
    /// The first error code of an error body.
    var errorCode: String? { ((json?["errors"] as? [[String: Any]])?.first?["code"]) as? String }
}

/// `curl` with `method`, extra headers and an optional body; `curl` itself is the client the
/// issue names for checking each endpoint's status codes and headers.
func http(_ method: String, _ url: String, headers: [String: String] = [:], body: Data? = nil) throws -> HTTPExchange {
    let scratch = try Scratch()
    var arguments = ["-s", "-X", method, "-D", scratch.path("headers"), "-o", scratch.path("body")]
    if method == "HEAD" { arguments = ["-s", "-I", "-D", scratch.path("headers"), "-o", scratch.path("body")] }
    for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
    if let body {
        try body.write(to: URL(fileURLWithPath: scratch.path("request")))
        arguments += ["--data-binary", "@" + scratch.path("request")]
        if headers["Content-Type"] == nil { arguments += ["-H", "Content-Type: application/octet-stream"] }
    }
    let result = try run("curl", arguments + [url])
    guard result.status == 0 else { throw NSError(domain: "curl", code: Int(result.status), userInfo: [NSLocalizedDescriptionKey: result.stderr]) }
    let head = (try? String(contentsOfFile: scratch.path("headers"), encoding: .utf8)) ?? ""
    var lines = head.components(separatedBy: "\r\n")
    // A `100 Continue` comes first when curl sent Expect.
    while let first = lines.first, first.contains(" 100 ") {
        lines = Array(lines.drop { !$0.isEmpty }.dropFirst())
    }
    let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
    var fields: [String: String] = [:]
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    // curl -I writes the headers where the body would go; a HEAD answer has no body to read.
    let data = method == "HEAD" ? Data() : FileManager.default.contents(atPath: scratch.path("body")) ?? Data()
    return HTTPExchange(status: status, headers: fields, body: data)
}

func sha256(_ data: Data) -> String { Digest.compute(Array(data)).description }
