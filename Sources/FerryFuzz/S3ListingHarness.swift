import Foundation
import S3Listing

/// `ListPage(data:)`, the ListObjectsV2 answer reader: no crash, hang or memory blow-up. (XML
/// has no cheap invariant to check here: libxml2 recovers from errors, and entities may expand
/// to elements.)
enum S3ListingHarness {
    static func run(_ bytes: [UInt8]) {
        guard let page = try? ListPage(data: Data(bytes)) else { return }
        for object in page.objects { _ = object.key.utf8.count + Int(truncatingIfNeeded: object.size) }
        _ = page.truncated
        _ = page.nextToken
    }
}
