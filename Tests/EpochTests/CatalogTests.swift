import Foundation
import Testing

@testable import Epoch
import FerryCore

/// catalog.json and time stamps byte for byte as epoch (Go) writes them.
@Suite struct CatalogTests {
    @Test func encodesLikeGoMarshalIndent() throws {
        var catalog = Catalog()
        catalog.repositories["windows/win11"] = .init(tags: ["25h2": "manifests/windows/win11/25h2.json", "24h2": "manifests/windows/win11/24h2.json"],
                                                      updatedAt: "2026-04-24T07:51:09.123456789+08:00")
        catalog.updatedAt = "2026-04-24T07:51:09.123457+08:00"
        let expected = """
            {
              "repositories": {
                "windows/win11": {
                  "tags": {
                    "24h2": "manifests/windows/win11/24h2.json",
                    "25h2": "manifests/windows/win11/25h2.json"
                  },
                  "updatedAt": "2026-04-24T07:51:09.123456789+08:00"
                }
              },
              "updatedAt": "2026-04-24T07:51:09.123457+08:00"
            }
            """
        #expect(String(decoding: catalog.encoded(), as: UTF8.self) == expected)
        #expect(try Catalog(bytes: catalog.encoded()) == catalog)
        #expect(String(decoding: Catalog().encoded(), as: UTF8.self) == "{\n  \"repositories\": {},\n  \"updatedAt\": \"\"\n}")
    }

    @Test func escapesAsGoDoes() {
        var out = ""
        GoJSON.quote("a<b>&c\"d\\e\n\u{1}\u{2028}é", into: &out)
        #expect(out == #""a\u003cb\u003e\u0026c\"d\\e\n\u0001\u2028é""#)
    }

    @Test func timestampsAreRFC3339NanoInTheZone() {
        let date = Date(timeIntervalSince1970: 1_777_017_069.25)
        #expect(GoJSON.timestamp(date, in: TimeZone(secondsFromGMT: 0)!) == "2026-04-24T07:51:09.25Z")
        #expect(GoJSON.timestamp(date, in: TimeZone(secondsFromGMT: 8 * 3600)!) == "2026-04-24T15:51:09.25+08:00")
        #expect(GoJSON.timestamp(Date(timeIntervalSince1970: 1_777_017_069), in: TimeZone(secondsFromGMT: -5 * 3600 - 1800)!) == "2026-04-24T02:21:09-05:30")
    }

    @Test func addingAndRemovingTagsFollowEpoch() {
        var catalog = Catalog()
        let early = Date(timeIntervalSince1970: 1_000_000_000)
        let late = Date(timeIntervalSince1970: 1_000_000_100)
        catalog.add(tag: "v1", key: "manifests/app/v1.json", repository: "app", now: early)
        let stampedAt = catalog.repositories["app"]!.updatedAt
        let removedOther = catalog.remove(tag: "v2", repository: "app", now: late)
        #expect(removedOther)
        // Removal changes the catalog's time only; the repository keeps its own.
        #expect(catalog.repositories["app"]?.updatedAt == stampedAt)
        #expect(catalog.updatedAt != stampedAt)
        let removedLast = catalog.remove(tag: "v1", repository: "app", now: late)
        #expect(removedLast)
        #expect(catalog.repositories["app"] == nil)
        let removedAbsent = catalog.remove(tag: "v1", repository: "absent", now: late)
        #expect(!removedAbsent)
    }
}
