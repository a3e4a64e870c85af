import Foundation

/// JSON written the way Go's encoding/json writes it, so that files Ferry writes match the bytes
/// epoch writes: struct fields in declaration order, map keys sorted bytewise, `<`, `>`, `&`,
/// U+2028 and U+2029 escaped, two-space `MarshalIndent`.
indirect enum GoJSON {
    case string(String)
    case object([(String, GoJSON)])

    /// `MarshalIndent(value, "", "  ")`, without a trailing newline.
    func indented() -> String {
        var out = ""
        write(into: &out, depth: 0)
        return out
    }

    private func write(into out: inout String, depth: Int) {
        switch self {
        case .string(let text):
            GoJSON.quote(text, into: &out)
        case .object(let members):
            guard !members.isEmpty else {
                out += "{}"
                return
            }
            out += "{\n"
            for (index, (key, value)) in members.enumerated() {
                out += String(repeating: "  ", count: depth + 1)
                GoJSON.quote(key, into: &out)
                out += ": "
                value.write(into: &out, depth: depth + 1)
                out += index == members.count - 1 ? "\n" : ",\n"
            }
            out += String(repeating: "  ", count: depth) + "}"
        }
    }

    /// A Go map: members sorted by key, bytewise.
    static func map(_ entries: [String: GoJSON]) -> GoJSON {
        .object(entries.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) })
    }

    static func quote(_ text: String, into out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<", ">", "&", "\u{2028}", "\u{2029}":
                out += String(format: "\\u%04x", scalar.value)
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// `time.Time` as Go marshals it: RFC 3339 with nanoseconds, trailing zeros trimmed, in the
    /// given zone (`Z` for a zero offset).
    static func timestamp(_ date: Date, in zone: TimeZone = .current) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let seconds = date.timeIntervalSince1970
        var nanos = Int(((seconds - seconds.rounded(.down)) * 1e9).rounded())
        if nanos >= 1_000_000_000 { nanos = 999_999_999 }
        var text = String(format: "%04d-%02d-%02dT%02d:%02d:%02d", parts.year!, parts.month!, parts.day!, parts.hour!, parts.minute!, parts.second!)
        if nanos > 0 {
            var fraction = String(format: "%09d", nanos)
            while fraction.hasSuffix("0") { fraction.removeLast() }
            text += "." + fraction
        }
        let offset = zone.secondsFromGMT(for: date)
        if offset == 0 { return text + "Z" }
        let sign = offset < 0 ? "-" : "+"
        return text + String(format: "%@%02d:%02d", sign, abs(offset) / 3600, abs(offset) % 3600 / 60)
    }
}
