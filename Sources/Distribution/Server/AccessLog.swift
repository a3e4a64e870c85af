import FerryCore
import Foundation

/// One line per request: method, path, status, bytes in and out, duration; as text or JSON.
/// Paths are the only client words in it, printed without control characters; no header (and
/// so no credential) is ever logged.
struct AccessLog: Sendable {
    let json: Bool
    let output: @Sendable (String) -> Void
    let metrics: ServerMetrics

    func record(method: String, path: String, status: Int, bytesIn: Int64, bytesOut: Int64, since start: ContinuousClock.Instant, failure: String? = nil) {
        let elapsed = start.duration(to: .now)
        metrics.record(method: method, status: status, bytesIn: bytesIn, bytesOut: bytesOut, duration: elapsed)
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        let time = Date.now.formatted(.iso8601)
        if json {
            var object: [String: Any] = ["time": time, "method": method, "path": path, "status": status,
                                         "bytesIn": bytesIn, "bytesOut": bytesOut, "ms": (milliseconds * 10).rounded() / 10]
            if let failure { object["failure"] = failure.printable }
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
                output(String(decoding: data, as: UTF8.self))
            }
        } else {
            let failed = failure.map { " failed: \($0.printable)" } ?? ""
            output("\(time) \(method) \(path.printable) \(status) in=\(bytesIn) out=\(bytesOut) \(String(format: "%.1f", milliseconds))ms\(failed)")
        }
    }
}
