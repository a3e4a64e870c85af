import Foundation

/// Writing to the terminal and formatting figures.
enum Output {
    private static let lock = NSLock()

    /// Writes one line to stdout.
    static func line(_ text: String) {
        lock.withLock { write(Array((text + "\n").utf8), to: 1) }
    }

    /// Writes to stdout as it is.
    static func raw(_ bytes: [UInt8]) {
        lock.withLock { write(bytes, to: 1) }
    }

    /// Writes to stderr without a newline.
    static func error(_ text: String) {
        lock.withLock { write(Array(text.utf8), to: 2) }
    }

    /// Writes all of `bytes`. A reader that went away (`ferry ls | head -1`) ends the process
    /// quietly with the status a SIGPIPE would give, as other command-line tools end.
    private static func write(_ bytes: [UInt8], to descriptor: Int32) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE { _exit(128 + SIGPIPE) }
                return
            }
            offset += written
        }
    }

    /// Writes one JSON object as a line on stdout.
    static func json(_ object: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        line(String(decoding: data, as: UTF8.self))
    }

    /// Writes one `--json` event: the fields and `event` set to `name` (README, "Machine-readable
    /// output", lists every event and its fields).
    static func event(_ name: String, _ fields: [String: Any]) {
        var object = fields
        object["event"] = name
        json(object)
    }

    /// Writes an Encodable value as one JSON line on stdout.
    static func json<T: Encodable>(encoding value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        line(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// `1.5 MiB`, `512 B`.
    static func bytes(_ count: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }

    /// `25 s`, `4:05`, `1:02:03`: a time left, rounded up to the second.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds < 1e9 else { return "--" }
        let whole = Int(seconds.rounded(.up))
        if whole < 60 { return "\(whole) s" }
        let (hours, minutes, rest) = (whole / 3600, whole / 60 % 60, whole % 60)
        return hours > 0 ? String(format: "%d:%02d:%02d", hours, minutes, rest) : String(format: "%d:%02d", minutes, rest)
    }

    /// The first 12 hex characters of a digest, as docker shows it.
    static func short(_ digest: CustomStringConvertible) -> String {
        let text = digest.description
        guard let colon = text.firstIndex(of: ":") else { return text }
        return String(text[text.index(after: colon)...].prefix(12))
    }

    /// Whether stderr is a terminal.
    static var stderrIsTerminal: Bool { isatty(2) == 1 }
}
