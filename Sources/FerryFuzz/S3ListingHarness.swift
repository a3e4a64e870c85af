import Foundation
import S3Listing

/// `ListPage(data:)`, the ListObjectsV2 answer reader: no crash, hang or memory blow-up, and no
/// more objects than the page has `Contents` elements.
enum S3ListingHarness {
    static func run(_ bytes: [UInt8]) {
        guard let page = try? ListPage(data: Data(bytes)) else { return }
        let closings = occurrences(of: Array("Contents>".utf8), in: bytes)
        require(page.objects.count <= closings, "\(page.objects.count) objects from \(closings) mentions of Contents")
        _ = page.truncated
        _ = page.nextToken
    }

    private static func occurrences(of needle: [UInt8], in bytes: [UInt8]) -> Int {
        guard bytes.count >= needle.count else { return 0 }
        return (0...(bytes.count - needle.count)).count { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}
