import Epoch
import Foundation
import Testing

/// Inputs the fuzz harnesses (Sources/FerryFuzz) found, kept so that the fixes stay.
@Suite struct S3ListingFuzzRegressionTests {
    /// s3-listing harness: FoundationXML traps on an element name that is not UTF-8
    /// (`<\xFFn\0\0`); such a page is now an error before it reaches the parser.
    @Test func aListingThatIsNotUTF8IsAnErrorNotATrap() {
        #expect(throws: ListPage.Malformed.self) { try ListPage(data: Data([0x3C, 0xFF, 0x6E, 0x00, 0x00])) }
        #expect(throws: ListPage.Malformed.self) { try ListPage(data: Data("<ListBucketResult><Contents><Key>a\u{FF}".utf8) + Data([0xC3])) }
    }

    /// s3-listing harness: FoundationXML reads a null pointer for a processing instruction
    /// without data (`<?x?>`) and the process dies; a listing with one is now an error.
    @Test func aListingWithAProcessingInstructionIsAnErrorNotACrash() throws {
        #expect(throws: ListPage.Malformed.self) { try ListPage(data: Data("<?x?>".utf8)) }
        #expect(throws: ListPage.Malformed.self) { try ListPage(data: Data(#"<?xml version="1.0"?><ListBucketResult><?x?></ListBucketResult>"#.utf8)) }
        #expect(try ListPage(data: Data(#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult></ListBucketResult>"#.utf8)).objects.isEmpty)
    }

    /// s3-listing harness: ICU died of SIGFPE reading `LastModified` with a fraction of some 30
    /// digits; only RFC 3339 as S3 writes it reaches the date parser now, anything else reads as
    /// "now", as an unreadable time did before.
    @Test func aLastModifiedWithAHugeFractionIsNotADeadlySignal() throws {
        for time in ["7-1-1T0:0:0." + String(repeating: "0", count: 35), "2024-01-01T00:00:00." + String(repeating: "0", count: 40)] {
            let page = try ListPage(data: Data("<ListBucketResult><Contents><Key>k</Key><LastModified>\(time)</LastModified></Contents></ListBucketResult>".utf8))
            #expect(page.objects.count == 1)
            #expect(page.objects[0].modified.timeIntervalSinceNow > -60)
        }
        for (time, seconds) in [("2024-01-01T00:00:00.5Z", 1_704_067_200.5), ("2024-01-01T01:00:00+01:00", 1_704_067_200), ("2024-01-01T00:00:00.123456789Z", 1_704_067_200.123)] {
            let page = try ListPage(data: Data("<ListBucketResult><Contents><Key>k</Key><LastModified>\(time)</LastModified></Contents></ListBucketResult>".utf8))
            #expect(abs(page.objects[0].modified.timeIntervalSince1970 - seconds) < 0.001, "\(time)")
        }
    }

    /// A page cut short used to list the objects before the cut, not truncated: a listing that
    /// silently left objects out.
    /// Noted by the s3-listing harness's author: a negative or unreadable `<Size>` was read as a
    /// size (or as 0); a listing that gives one is now an error.
    @Test func aSizeThatIsNotAByteCountIsAnError() throws {
        for size in ["-5", "x", "99999999999999999999"] {
            #expect(throws: ListPage.Malformed.self) {
                try ListPage(data: Data("<ListBucketResult><Contents><Key>k</Key><Size>\(size)</Size></Contents></ListBucketResult>".utf8))
            }
        }
        #expect(try ListPage(data: Data("<ListBucketResult><Contents><Key>k</Key><Size>12</Size></Contents></ListBucketResult>".utf8)).objects.map(\.size) == [12])
    }

    @Test func aListingCutShortIsAnError() {
        let page = #"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key><Size>1</Size></Contents><Contents><Key>b</Key>"#
        #expect(throws: ListPage.Malformed.self) { try ListPage(data: Data(page.utf8)) }
    }

    @Test func aWholeListingReads() throws {
        let text = #"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>true</IsTruncated><NextContinuationToken>t/1=</NextContinuationToken><Contents><Key>a&amp;b</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><Size>7</Size></Contents></ListBucketResult>"#
        let page = try ListPage(data: Data(text.utf8))
        #expect(page.objects == [ObjectInfo(key: "a&b", size: 7, modified: Date(timeIntervalSince1970: 1_704_067_200))])
        #expect(page.truncated && page.nextToken == "t/1=")
    }
}
