import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// One page of a ListObjectsV2 answer.
struct ListPage {
    var objects: [ObjectInfo] = []
    var truncated = false
    var nextToken: String?

    init(data: Data) {
        let delegate = Delegate()
        let parser = XMLParser(data: data)
        parser.delegate = delegate
        _ = parser.parse()
        objects = delegate.objects
        truncated = delegate.truncated
        nextToken = delegate.nextToken
    }

    private final class Delegate: NSObject, XMLParserDelegate {
        var objects: [ObjectInfo] = []
        var truncated = false
        var nextToken: String?
        private var text = ""
        private var key = ""
        private var size: Int64 = 0
        private var modified = Date()
        private let iso = ISO8601DateFormatter()

        override init() {
            iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        }

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            text = ""
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            switch name {
            case "Key": key = text
            case "Size": size = Int64(text) ?? 0
            case "LastModified": modified = iso.date(from: text) ?? ISO8601DateFormatter().date(from: text) ?? Date()
            case "Contents": objects.append(ObjectInfo(key: key, size: size, modified: modified))
            case "IsTruncated": truncated = text == "true"
            case "NextContinuationToken": nextToken = text
            default: break
            }
        }
    }
}
