import Foundation

/// JSON written the way Go's encoding/json writes it, so that files Ferry writes match the bytes
/// epoch and cocoon write: struct fields in declaration order, map keys sorted bytewise, `<`, `>`,
/// `&`, U+2028 and U+2029 escaped, compact `Marshal` or two-space `MarshalIndent`.
///
/// Objects keep their members in order and numbers keep their text, so a document parsed with
/// `GoJSON(parsing:)` and written again comes out as Go wrote it, keys Ferry does not know included.
public indirect enum GoJSON: Sendable, Equatable {
    case string(String)
    /// A number as written (`2147483648`, `1.5`), so that 64-bit integers survive unchanged.
    case number(String)
    case bool(Bool)
    case null
    case array([GoJSON])
    case object([Member])

    /// One member of an object.
    public struct Member: Sendable, Equatable {
        public var key: String
        public var value: GoJSON
        public init(_ key: String, _ value: GoJSON) {
            self.key = key
            self.value = value
        }
    }

    /// An object from key-value pairs, in the given order (a Go struct).
    public static func object(_ pairs: [(String, GoJSON)]) -> GoJSON {
        .object(pairs.map { Member($0.0, $0.1) })
    }

    /// A Go map: members sorted by key, bytewise.
    public static func map(_ entries: [String: GoJSON]) -> GoJSON {
        .object(entries.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }.map { Member($0.key, $0.value) })
    }

    /// An integer.
    public static func int<T: BinaryInteger>(_ value: T) -> GoJSON { .number(String(value)) }

    // MARK: reading values

    /// The value of `key` in an object.
    public subscript(key: String) -> GoJSON? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    public var int64Value: Int64? {
        if case .number(let text) = self { return Int64(text) }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let flag) = self { return flag }
        return nil
    }

    public var members: [Member]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// Whether Go's `omitempty` leaves this value out: false, 0, "", null, an empty array or map.
    public var isEmptyValue: Bool {
        switch self {
        case .string(let text): text.isEmpty
        case .number(let text): Double(text) == 0
        case .bool(let flag): !flag
        case .null: true
        case .array(let items): items.isEmpty
        case .object(let members): members.isEmpty
        }
    }

    // MARK: writing

    /// `Marshal(value)`: compact, no trailing newline.
    public func compact() -> String {
        var out = ""
        write(into: &out, indent: nil, depth: 0)
        return out
    }

    /// `MarshalIndent(value, "", "  ")`, without a trailing newline.
    public func indented() -> String {
        var out = ""
        write(into: &out, indent: "  ", depth: 0)
        return out
    }

    private func write(into out: inout String, indent: String?, depth: Int) {
        switch self {
        case .string(let text): GoJSON.quote(text, into: &out)
        case .number(let text): out += text
        case .bool(let flag): out += flag ? "true" : "false"
        case .null: out += "null"
        case .array(let items):
            writeList(items.count, open: "[", close: "]", into: &out, indent: indent, depth: depth) { index, out in
                items[index].write(into: &out, indent: indent, depth: depth + 1)
            }
        case .object(let members):
            writeList(members.count, open: "{", close: "}", into: &out, indent: indent, depth: depth) { index, out in
                GoJSON.quote(members[index].key, into: &out)
                out += indent == nil ? ":" : ": "
                members[index].value.write(into: &out, indent: indent, depth: depth + 1)
            }
        }
    }

    private func writeList(
        _ count: Int, open: String, close: String, into out: inout String, indent: String?, depth: Int,
        item: (Int, inout String) -> Void
    ) {
        out += open
        guard count > 0 else { return out += close }
        for index in 0..<count {
            if index > 0 { out += "," }
            if let indent { out += "\n" + String(repeating: indent, count: depth + 1) }
            item(index, &out)
        }
        if let indent { out += "\n" + String(repeating: indent, count: depth) }
        out += close
    }

    /// A string as Go quotes it.
    public static func quote(_ text: String, into out: inout String) {
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
    public static func timestamp(_ date: Date, in zone: TimeZone = .current) -> String {
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

    /// Reads what `timestamp` writes (any RFC 3339 time with an offset or `Z`); nil for anything
    /// else. The fraction of a second is ignored.
    public static func parseTimestamp(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[range] {
                guard (0x30...0x39).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        guard bytes.count >= 20, bytes[4] == 0x2D, bytes[7] == 0x2D, bytes[10] == 0x54 || bytes[10] == 0x74,
            bytes[13] == 0x3A, bytes[16] == 0x3A,
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19)
        else { return nil }
        var cursor = 19
        if bytes[cursor] == 0x2E {
            cursor += 1
            while cursor < bytes.count, (0x30...0x39).contains(bytes[cursor]) { cursor += 1 }
        }
        guard cursor < bytes.count else { return nil }
        var offset = 0
        switch bytes[cursor] {
        case 0x5A, 0x7A:
            guard cursor + 1 == bytes.count else { return nil }
        case 0x2B, 0x2D:
            guard cursor + 6 == bytes.count, bytes[cursor + 3] == 0x3A,
                let hours = number(cursor + 1..<cursor + 3), let minutes = number(cursor + 4..<cursor + 6)
            else { return nil }
            offset = (hours * 60 + minutes) * 60 * (bytes[cursor] == 0x2D ? -1 : 1)
        default:
            return nil
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0)!
        let components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61,
            let date = calendar.date(from: components)
        else { return nil }
        return date.addingTimeInterval(TimeInterval(-offset))
    }
}
