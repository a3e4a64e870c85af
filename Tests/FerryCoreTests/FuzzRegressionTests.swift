import FerryCore
import Testing

/// Inputs the fuzz harnesses (Sources/FerryFuzz) found, kept so that the fixes stay.
@Suite struct GoJSONFuzzRegressionTests {
    /// gojson harness: `"size":064` was accepted and would be written back as is, into a file
    /// (snapshots.json, say) that Go's encoding/json then refuses to read.
    @Test func aNumberWithALeadingZeroIsNotJSON() throws {
        for bad in ["064", "-01", "[00]", "{\"size\":064}", "01.5", "-00e1"] {
            #expect(throws: GoJSON.ParseError.self, "\(bad)") { try GoJSON(parsing: Array(bad.utf8)) }
        }
        for good in ["0", "-0", "0.5", "-0.0e+1", "10", "1e5", "[0,0]"] {
            #expect((try? GoJSON(parsing: Array(good.utf8))) != nil, "\(good)")
        }
    }

    /// gojson harness: a `\u` escape took a sign (`\u+12a`, `\u-000`), as UInt32(_:radix:) does.
    @Test func aUnicodeEscapeIsFourHexDigits() throws {
        for bad in [#""\u+12a""#, #""\u-000""#, #""\u 12a""#, #""\u12g4""#] {
            #expect(throws: GoJSON.ParseError.self, "\(bad)") { try GoJSON(parsing: Array(bad.utf8)) }
        }
        #expect(try GoJSON(parsing: Array(#""\u00E9\u00e9""#.utf8)) == .string("éé"))
    }
}
