import FerryCore
import Foundation
import OCI

/// How `ferry copy` reports as it goes.
enum ProgressMode: String, CaseIterable {
    case auto, plain, none
}

/// Renders copy events: a redrawn bar on a terminal, a line per event otherwise, a JSON object
/// per line with `--json`. Events come from several tasks at once. The bar and, every
/// `interval`, plain and JSON output say how much has moved, how fast, and how long is left.
final class ProgressReporter: @unchecked Sendable {
    enum Style { case bar, lines, json, silent }

    /// Where output goes: the terminal by default, a buffer in tests.
    struct Sinks {
        /// Text for stderr (bar redraws, plain lines).
        var error: (String) -> Void = Output.error
        /// A JSON event for stdout.
        var event: (String, [String: Any]) -> Void = Output.event
    }

    let style: Style
    private let interval: UInt64
    private let now: () -> UInt64
    private let sinks: Sinks
    private let lock = NSLock()
    private var totalBytes: Int64 = 0
    private var totalBlobs = 0
    private var skippedBytes: Int64 = 0
    private var copiedBytes: Int64 = 0
    private var doneBlobs = 0
    private var inFlight: [Digest: (size: Int64, moved: Int64)] = [:]
    private var lastDraw: UInt64 = 0
    private var lastReport: UInt64
    private let started: UInt64

    /// `interval`: seconds between progress lines in plain and JSON output; `now`: a clock in
    /// nanoseconds.
    init(mode: ProgressMode, json: Bool, interval: Double = 5, now: @escaping () -> UInt64 = { DispatchTime.now().uptimeNanoseconds },
         sinks: Sinks = Sinks(), terminal: Bool = Output.stderrIsTerminal) {
        if json {
            style = .json
        } else {
            switch mode {
            case .none: style = .silent
            case .plain: style = .lines
            case .auto: style = terminal ? .bar : .lines
            }
        }
        self.interval = UInt64(max(0, interval) * 1e9)
        self.now = now
        self.sinks = sinks
        started = now()
        lastReport = started
    }

    func handle(_ event: CopyEvent) {
        lock.withLock { render(event) }
    }

    private func render(_ event: CopyEvent) {
        switch event {
        case .planned(let root, let kind, let manifests, let blobs, let bytes):
            totalBlobs = blobs
            totalBytes = bytes
            switch style {
            case .json:
                sinks.event("plan", ["digest": root.digest.description, "mediaType": root.mediaType, "kind": kind.rawValue,
                                     "manifests": manifests, "blobs": blobs, "bytes": bytes])
            case .lines:
                sinks.error("Copying \(kind.rawValue) \(root.digest): \(manifests) manifest(s), \(blobs) blob(s), \(Output.bytes(bytes))\n")
            case .bar, .silent: break
            }
        case .blobSkipped(let blob):
            doneBlobs += 1
            skippedBytes += blob.size
            emit(blob, action: "skipped", line: "Skipping blob \(Output.short(blob.digest)) (\(Output.bytes(blob.size))): already present")
        case .blobStarted(let blob):
            inFlight[blob.digest] = (blob.size, 0)
            emit(blob, action: "started", line: "Copying blob \(Output.short(blob.digest)) (\(Output.bytes(blob.size)))")
        case .blobProgress(let blob, let bytes):
            inFlight[blob.digest] = (blob.size, bytes)
            if style == .bar { drawBar(force: false) } else { reportIfDue() }
        case .blobCopied(let blob):
            inFlight[blob.digest] = nil
            doneBlobs += 1
            copiedBytes += blob.size
            emit(blob, action: "copied", line: "Copied blob \(Output.short(blob.digest)) (\(Output.bytes(blob.size)))")
        case .manifestPushed(let manifest, let tag):
            switch style {
            case .json:
                var object: [String: Any] = ["action": "written", "digest": manifest.digest.description,
                                             "mediaType": manifest.mediaType, "size": manifest.size]
                if let tag { object["tag"] = tag }
                sinks.event("manifest", object)
            case .lines:
                sinks.error("Wrote manifest \(Output.short(manifest.digest))\(tag.map { " as \($0)" } ?? "")\n")
            case .bar, .silent: break
            }
        case .manifestSkipped(let manifest):
            if style == .json {
                sinks.event("manifest", ["action": "skipped", "digest": manifest.digest.description,
                                         "mediaType": manifest.mediaType, "size": manifest.size])
            }
        case .finished:
            if style == .bar {
                drawBar(force: true)
                sinks.error("\n")
            }
        }
    }

    private func emit(_ blob: Descriptor, action: String, line: String) {
        switch style {
        case .json:
            var object: [String: Any] = ["action": action, "digest": blob.digest.description, "mediaType": blob.mediaType, "size": blob.size]
            if action == "copied" { object["bytes"] = blob.size }
            sinks.event("blob", object)
        case .lines: sinks.error(line + "\n")
        case .bar: drawBar(force: action != "started")
        case .silent: break
        }
    }

    /// Where the copy stands: bytes moved (skipped ones count as done), the rate of the bytes
    /// that really moved, and the seconds left at that rate (nil until something moved).
    struct Status {
        var done: Int64
        var total: Int64
        var bytesPerSecond: Double
        var secondsLeft: Double?
    }

    var status: Status { lock.withLock { currentStatus(at: now()) } }

    private func currentStatus(at time: UInt64) -> Status {
        let moving = inFlight.values.reduce(Int64(0)) { $0 + $1.moved }
        let moved = copiedBytes + moving
        let seconds = Double(time &- started) / 1e9
        let rate = seconds > 0 ? Double(moved) / seconds : 0
        let remaining = max(0, totalBytes - skippedBytes - moved)
        return Status(done: skippedBytes + moved, total: totalBytes, bytesPerSecond: rate,
                      secondsLeft: rate > 0 ? Double(remaining) / rate : nil)
    }

    /// Plain and JSON output: a progress line once every `interval` while blobs move.
    private func reportIfDue() {
        let time = now()
        guard style == .lines || style == .json, time &- lastReport >= interval else { return }
        lastReport = time
        let status = currentStatus(at: time)
        let percent = status.total > 0 ? Int(Double(status.done) / Double(status.total) * 100) : 100
        switch style {
        case .json:
            var object: [String: Any] = ["bytes": status.done, "totalBytes": status.total, "blobs": doneBlobs, "totalBlobs": totalBlobs,
                                         "bytesPerSecond": Int64(status.bytesPerSecond)]
            if let left = status.secondsLeft { object["secondsLeft"] = (left * 10).rounded() / 10 }
            sinks.event("progress", object)
        default:
            var line = "Progress: \(Output.bytes(status.done)) of \(Output.bytes(status.total)) (\(percent)%), \(doneBlobs)/\(totalBlobs) blobs, \(Output.bytes(Int64(status.bytesPerSecond)))/s"
            if let left = status.secondsLeft { line += ", about \(Output.duration(left)) left" }
            if let (digest, blob) = inFlight.max(by: { $0.value.size < $1.value.size }) {
                line += "; blob \(Output.short(digest)) at \(Output.bytes(blob.moved)) of \(Output.bytes(blob.size))"
            }
            sinks.error(line + "\n")
        }
    }

    private func drawBar(force: Bool) {
        let time = now()
        guard force || time &- lastDraw > 100_000_000 else { return }
        lastDraw = time
        let status = currentStatus(at: time)
        let fraction = status.total > 0 ? min(1, Double(status.done) / Double(status.total)) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let left = status.secondsLeft.map { "ETA \(Output.duration($0))" } ?? "ETA --"
        sinks.error("\r\u{1B}[K[\(bar)] \(Output.bytes(status.done)) / \(Output.bytes(status.total))  \(doneBlobs)/\(totalBlobs) blobs  \(Output.bytes(Int64(status.bytesPerSecond)))/s  \(left)")
    }

    /// The last word: a summary object with `--json`, a line otherwise.
    func summarize(_ result: CopyResult, source: String, destination: String) {
        switch style {
        case .json:
            var object: [String: Any] = [
                "source": source, "destination": destination, "digest": result.root.digest.description,
                "mediaType": result.root.mediaType, "kind": result.kind.rawValue, "manifests": result.manifests,
                "blobsCopied": result.blobsCopied, "blobsSkipped": result.blobsSkipped, "bytesCopied": result.bytesCopied,
                "bytesSkipped": result.bytesSkipped, "seconds": (result.seconds * 1000).rounded() / 1000,
            ]
            if let tag = result.tag { object["tag"] = tag }
            if result.tagged.count > 1 {
                object["tags"] = result.tagged.map { entry -> [String: Any] in
                    var item: [String: Any] = ["digest": entry.descriptor.digest.description]
                    if let tag = entry.tag { item["tag"] = tag }
                    return item
                }
            }
            sinks.event("summary", object)
        case .silent: break
        case .lines, .bar:
            let rate = result.seconds > 0 ? Output.bytes(Int64(Double(result.bytesCopied) / result.seconds)) + "/s" : ""
            let what = result.tagged.count > 1 ? "\(result.tagged.count) artifacts" : result.root.digest.description
            sinks.error("Copied \(source) to \(destination): \(what) (\(result.blobsCopied) blob(s) copied, \(Output.bytes(result.bytesCopied)), \(result.blobsSkipped) already present; \(String(format: "%.2f", result.seconds)) s, \(rate))\n")
        }
    }
}
