import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// One page of a ListObjectsV2 answer.
public struct ListPage {
    public var objects: [ObjectInfo] = []
    public var truncated = false
    public var nextToken: String?

    /// Why a page cannot be read.
    public struct Malformed: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads the page; elements it does not know are left out. A body that is not UTF-8 or not
    /// XML is an error: FoundationXML traps on an element name that is not UTF-8 and crashes on
    /// some processing instructions, and a page cut short would silently leave objects out.
    public init(data: Data) throws {
        guard String(validating: data, as: UTF8.self) != nil else {
            throw Malformed(description: "the listing is not UTF-8 text")
        }
        // FoundationXML dereferences a null pointer for a processing instruction without data
        // (`<?x?>`); a listing holds none after its XML declaration.
        var body = data[...]
        if body.starts(with: "<?xml ".utf8), let end = body.firstRange(of: "?>".utf8) { body = body[end.upperBound...] }
        guard body.firstRange(of: "<?".utf8) == nil else {
            throw Malformed(description: "the listing holds an XML processing instruction")
        }
        let delegate = Delegate()
        let parser = XMLParser(data: data)
        parser.delegate = delegate
        guard parser.parse() else {
            throw Malformed(description: "the listing is not XML (\(parser.parserError.map { "\($0)" } ?? "unreadable"))")
        }
        // FoundationXML on Linux reports success for a document that ends inside an element.
        guard delegate.closedRoot else { throw Malformed(description: "the listing ends before its last element does") }
        if let size = delegate.badSize { throw Malformed(description: "the listing gives an object the size '\(size.prefix(40))'") }
        objects = delegate.objects
        truncated = delegate.truncated
        nextToken = delegate.nextToken
    }

    private final class Delegate: NSObject, XMLParserDelegate {
        var objects: [ObjectInfo] = []
        var truncated = false
        var nextToken: String?
        private var text = ""
        private var depth = 0
        /// Whether the document's root element ended.
        var closedRoot = false
        private var key = ""
        private var size: Int64 = 0
        /// A `<Size>` that is not a count of bytes.
        var badSize: String?
        private var modified = Date()
        private let iso = ISO8601DateFormatter()

        override init() {
            iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        }

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            text = ""
            depth += 1
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            depth -= 1
            if depth == 0 { closedRoot = true }
            switch name {
            case "Key": key = text
            case "Size":
                if let value = Int64(text), value >= 0 { size = value } else { badSize = badSize ?? text }
            case "LastModified": modified = date(text) ?? Date()
            case "Contents": objects.append(ObjectInfo(key: key, size: size, modified: modified))
            case "IsTruncated": truncated = text == "true"
            case "NextContinuationToken": nextToken = text
            default: break
            }
        }

        /// RFC 3339 as S3 writes it. ICU sees nothing else: it dies of SIGFPE on a fraction of
        /// some 30 digits (`7-1-1T0:0:0.000…`).
        private func date(_ text: String) -> Date? {
            guard text.wholeMatch(of: /[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})/) != nil else {
                return nil
            }
            return iso.date(from: text) ?? ISO8601DateFormatter().date(from: text)
        }
    }
}
