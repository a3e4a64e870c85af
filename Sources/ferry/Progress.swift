import FerryCore
import Foundation
import OCI

/// How `ferry copy` reports as it goes.
enum ProgressMode: String, CaseIterable {
    case auto, plain, none
}

/// Renders copy events: a redrawn bar on a terminal, a line per event otherwise, a JSON object
/// per line with `--json`. Events come from several tasks at once.
final class ProgressReporter: @unchecked Sendable {
    enum Style { case bar, lines, json, silent }

    private let style: Style
    private let lock = NSLock()
    private var totalBytes: Int64 = 0
    private var totalBlobs = 0
    private var doneBytes: Int64 = 0
    private var doneBlobs = 0
    private var inFlight: [Digest: Int64] = [:]
    private var lastDraw = DispatchTime(uptimeNanoseconds: 0)
    private let started = DispatchTime.now()

    init(mode: ProgressMode, json: Bool) {
        if json {
            style = .json
        } else {
            switch mode {
            case .none: style = .silent
            case .plain: style = .lines
            case .auto: style = Output.stderrIsTerminal ? .bar : .lines
            }
        }
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
                Output.json(["event": "plan", "digest": root.digest.description, "mediaType": root.mediaType, "kind": kind.rawValue,
                             "manifests": manifests, "blobs": blobs, "bytes": bytes])
            case .lines:
                Output.error("Copying \(kind.rawValue) \(root.digest): \(manifests) manifest(s), \(blobs) blob(s), \(Output.bytes(bytes))\n")
            case .bar, .silent: break
            }
        case .blobSkipped(let blob):
            doneBlobs += 1
            doneBytes += blob.size
            emit(blob, action: "skipped", line: "Skipping blob \(Output.short(blob.digest)) (\(Output.bytes(blob.size))): already present")
        case .blobStarted(let blob):
            inFlight[blob.digest] = 0
            emit(blob, action: "started", line: "Copying blob \(Output.short(blob.digest)) (\(Output.bytes(blob.size)))")
        case .blobProgress(let blob, let bytes):
            inFlight[blob.digest] = bytes
            if style == .bar { drawBar(force: false) }
        case .blobCopied(let blob):
            inFlight[blob.digest] = nil
            doneBlobs += 1
            doneBytes += blob.size
            emit(blob, action: "copied", line: "Copied blob \(Output.short(blob.digest)) (\(Output.bytes(blob.size)))")
        case .manifestPushed(let manifest, let tag):
            switch style {
            case .json:
                var object: [String: Any] = ["event": "manifest", "action": "written", "digest": manifest.digest.description,
                                             "mediaType": manifest.mediaType, "size": manifest.size]
                if let tag { object["tag"] = tag }
                Output.json(object)
            case .lines:
                Output.error("Wrote manifest \(Output.short(manifest.digest))\(tag.map { " as \($0)" } ?? "")\n")
            case .bar, .silent: break
            }
        case .manifestSkipped(let manifest):
            if style == .json {
                Output.json(["event": "manifest", "action": "skipped", "digest": manifest.digest.description,
                             "mediaType": manifest.mediaType, "size": manifest.size])
            }
        case .finished:
            if style == .bar {
                drawBar(force: true)
                Output.error("\n")
            }
        }
    }

    private func emit(_ blob: Descriptor, action: String, line: String) {
        switch style {
        case .json:
            var object: [String: Any] = ["event": "blob", "action": action, "digest": blob.digest.description,
                                         "mediaType": blob.mediaType, "size": blob.size]
            if action == "copied" { object["bytes"] = blob.size }
            Output.json(object)
        case .lines: Output.error(line + "\n")
        case .bar: drawBar(force: action != "started")
        case .silent: break
        }
    }

    private func drawBar(force: Bool) {
        let now = DispatchTime.now()
        guard force || now.uptimeNanoseconds - lastDraw.uptimeNanoseconds > 100_000_000 else { return }
        lastDraw = now
        let moved = doneBytes + inFlight.values.reduce(0, +)
        let fraction = totalBytes > 0 ? min(1, Double(moved) / Double(totalBytes)) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let seconds = max(0.001, Double(now.uptimeNanoseconds - started.uptimeNanoseconds) / 1e9)
        let rate = Output.bytes(Int64(Double(moved) / seconds))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        Output.error("\r\u{1B}[K[\(bar)] \(Output.bytes(moved)) / \(Output.bytes(totalBytes))  \(doneBlobs)/\(totalBlobs) blobs  \(rate)/s")
    }

    /// The last word: a summary object with `--json`, a line otherwise.
    func summarize(_ result: CopyResult, source: String, destination: String) {
        switch style {
        case .json:
            var object: [String: Any] = [
                "event": "summary", "source": source, "destination": destination, "digest": result.root.digest.description,
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
            Output.json(object)
        case .silent: break
        case .lines, .bar:
            let rate = result.seconds > 0 ? Output.bytes(Int64(Double(result.bytesCopied) / result.seconds)) + "/s" : ""
            let what = result.tagged.count > 1 ? "\(result.tagged.count) artifacts" : result.root.digest.description
            Output.error("Copied \(source) to \(destination): \(what) (\(result.blobsCopied) blob(s) copied, \(Output.bytes(result.bytesCopied)), \(result.blobsSkipped) already present; \(String(format: "%.2f", result.seconds)) s, \(rate))\n")
        }
    }
}
