import FerryCore
import Foundation

/// `GoJSON(parsing:)`: what parses writes back (compact and indented) to text that parses to
/// the same value, the compact text is stable, and a document it accepts is JSON by Foundation's
/// reading too (valid UTF-8 without surrogate escapes, which Go replaces and Foundation refuses,
/// and without numbers beyond Double, which are JSON that Foundation cannot hold).
enum GoJSONHarness {
    static func run(_ bytes: [UInt8]) {
        guard let value = try? GoJSON(parsing: bytes) else { return }
        let compact = value.compact()
        guard let again = try? GoJSON(parsing: Array(compact.utf8)) else {
            return require(false, "compact output \(compact.debugDescription) does not parse")
        }
        require(again == value, "compact output \(compact.debugDescription) parses to another value")
        require(again.compact() == compact, "compact output is not stable")
        let indented = value.indented()
        require((try? GoJSON(parsing: Array(indented.utf8))) == value, "indented output \(indented.debugDescription) parses to another value")
        if String(validating: bytes, as: UTF8.self) != nil, !hasSurrogateEscape(bytes), !hasHugeNumber(value) {
            let foundation = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
            require(foundation != nil, "GoJSON accepts \(String(decoding: bytes, as: UTF8.self).debugDescription), which is not JSON")
        }
    }

    private static func hasHugeNumber(_ value: GoJSON) -> Bool {
        switch value {
        case .number(let text): !(Double(text)?.isFinite ?? false)
        case .array(let items): items.contains(where: hasHugeNumber)
        case .object(let members): members.contains { hasHugeNumber($0.value) }
        default: false
        }
    }

    /// Whether the text holds `\uD800` to `\uDFFF`.
    private static func hasSurrogateEscape(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 3 else { return false }
        for index in 0..<(bytes.count - 2) where bytes[index] == UInt8(ascii: "\\") && bytes[index + 1] == UInt8(ascii: "u")
            && bytes[index + 2] | 0x20 == UInt8(ascii: "d") {
            return true
        }
        return false
    }
}
