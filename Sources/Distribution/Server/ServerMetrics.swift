import Prometheus

/// The server's figures in Prometheus's text format (`GET /metrics`): requests by method and
/// status, bytes in and out, request durations, and upload sessions open.
final class ServerMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let bytesIn: Counter
    private let bytesOut: Counter
    private let durations: DurationHistogram
    let uploadsInProgress: Gauge
    /// Bytes of blobs the kernel sent straight from a file (`FileSending`).
    let sentFromFiles: Counter

    init() {
        bytesIn = registry.makeCounter(name: "ferry_http_request_bytes_total", help: "Bytes of request bodies received.")
        bytesOut = registry.makeCounter(name: "ferry_http_response_bytes_total", help: "Bytes of response bodies sent.")
        durations = registry.makeDurationHistogram(
            name: "ferry_http_request_duration_seconds",
            buckets: [.milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500), .seconds(2), .seconds(10), .seconds(60)],
            help: "Time from a request's arrival to the end of its response.")
        uploadsInProgress = registry.makeGauge(name: "ferry_uploads_in_progress", help: "Upload sessions open.")
        sentFromFiles = registry.makeCounter(name: "ferry_sendfile_bytes_total", help: "Bytes of blobs sent from file to socket by the kernel (sendfile).")
    }

    func record(method: String, status: Int, bytesIn received: Int64, bytesOut sent: Int64, duration: Duration) {
        registry.makeCounter(name: "ferry_http_requests_total", labels: [("method", method), ("status", "\(status)")],
                             help: "Requests answered, by method and status.").increment()
        bytesIn.increment(by: max(received, 0))
        bytesOut.increment(by: max(sent, 0))
        durations.record(duration)
    }

    /// The text exposition of every metric.
    func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
