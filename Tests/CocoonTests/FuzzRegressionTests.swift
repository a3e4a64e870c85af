import Testing

@testable import Cocoon

/// Inputs the fuzz harnesses (Sources/FerryFuzz) found, kept so that the fixes stay.
@Suite struct SnapshotsFuzzRegressionTests {
    /// snapshots-json harness: `image_blob_ids` with a key given twice read as two ids and was
    /// written back (as Go writes a map) as one, so the index Ferry wrote did not read back as
    /// the index it had read.
    @Test func aBlobIDGivenTwiceIsOneID() throws {
        for text in [#"{"snapshots":{"":{"image_blob_ids":{"":"","":{}}}}}"#, #"{"snapshots":{"A":{"image_blob_ids":{"ab":{},"cd":{},"ab":{}}}},"names":{}}"#] {
            let index = try SnapshotIndex(bytes: Array(text.utf8), what: "snapshots.json")
            let written = index.encoded()
            #expect(try SnapshotIndex(bytes: written, what: "written") == index, "\(text)")
            #expect(index.snapshots.values.allSatisfy { Set($0.config.imageBlobIDs).count == $0.config.imageBlobIDs.count })
        }
        let index = try SnapshotIndex(bytes: Array(#"{"snapshots":{"A":{"image_blob_ids":{"cd":{},"ab":{},"cd":{}}}}}"#.utf8), what: "snapshots.json")
        #expect(index.snapshots["A"]?.config.imageBlobIDs == ["ab", "cd"])
    }
}
