import Dispatch
import FerryCore
import Testing

/// Go's encoding/json output, and documents that come back byte for byte after a parse.
@Suite struct GoJSONTests {
    @Test func aCocoonIndexRoundTripsByteForByte() throws {
        let text = #"{"snapshots":{"3QWZK7Y2ABCDEFGHJKLMNPQRST":{"cpu":2,"memory":2147483648,"storage":10737418240,"image":"ubuntu:24.04","id":"3QWZK7Y2ABCDEFGHJKLMNPQRST","name":"my\u003csnap","image_blob_ids":{"ab":{}},"nics":1,"created_at":"2026-04-24T07:51:09.1234+08:00","future_key":[1,-2.5e3,true,null],"data_dir":"/var/lib/cocoon/snapshot/localfile/3QWZK7Y2ABCDEFGHJKLMNPQRST"}},"names":{"my\u003csnap":"3QWZK7Y2ABCDEFGHJKLMNPQRST"}}"#
        let value = try GoJSON(parsing: Array(text.utf8))
        #expect(value["names"]?["my<snap"]?.stringValue == "3QWZK7Y2ABCDEFGHJKLMNPQRST")
        #expect(value["snapshots"]?["3QWZK7Y2ABCDEFGHJKLMNPQRST"]?["memory"]?.int64Value == 2_147_483_648)
        #expect(value.compact() == text)
    }

    @Test func indentsAsMarshalIndent() {
        let value = GoJSON.object([("version", .int(1)), ("config", .object([("a", .array([])), ("b", .map([:])), ("c", .array([.bool(false)]))]))])
        #expect(value.indented() == "{\n  \"version\": 1,\n  \"config\": {\n    \"a\": [],\n    \"b\": {},\n    \"c\": [\n      false\n    ]\n  }\n}")
    }

    @Test func rejectsWhatIsNotJSON() {
        for bad in ["", "{", "{\"a\" 1}", "[1,]", "\"\u{1}\"", "01x", "{} {}", "nul"] {
            #expect(throws: GoJSON.ParseError.self, "\(bad)") { try GoJSON(parsing: Array(bad.utf8)) }
        }
    }

    @Test func decodesEscapes() throws {
        #expect(try GoJSON(parsing: Array(#""a\"\\\/\n\u00e9\ud83d\ude00""#.utf8)) == .string("a\"\\/\né😀"))
    }
}

/// Strings full of escapes parse in time linear in their length (issue 14, point 3): ten times the
/// escapes take about ten times as long, not a hundred (a generous bound on the ratio, no clock
/// limit).
@Suite struct GoJSONScalingTests {
    func seconds(escapes: Int) throws -> Double {
        let text = "\"" + String(repeating: #"a\"b\n"#, count: escapes) + "\""
        let bytes = Array(text.utf8)
        let start = DispatchTime.now().uptimeNanoseconds
        let value = try GoJSON(parsing: bytes)
        #expect(value == .string(String(repeating: "a\"b\n", count: escapes)))
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    @Test func escapesCostLinearTime() throws {
        _ = try seconds(escapes: 2_000)
        let small = try seconds(escapes: 20_000)
        let large = try seconds(escapes: 200_000)
        #expect(large / max(small, 1e-4) < 30, "20,000 escapes: \(small) s, 200,000: \(large) s")
    }
}
