import Foundation
import OCI
import Testing

@testable import Cocoon
@testable import FerryCore

/// The artifact Ferry builds from a snapshot, against FORMATS.md §2 byte for byte where epoch's
/// output is deterministic, and read back.
@Suite struct SnapshotArtifactTests {
    static func sampleConfig() -> SnapshotConfig {
        var config = SnapshotConfig()
        config.id = "3QWZK7Y2ABCDEFGHJKLMNPQRST"
        config.name = "mysnap"
        config.image = "ubuntu:24.04"
        config.imageDigest = "sha256:" + String(repeating: "a", count: 64)
        config.imageType = "cloudimg"
        config.imageBlobIDs = [String(repeating: "b", count: 64)]
        config.hypervisor = "cloud-hypervisor"
        config.cpu = 2
        config.memory = 2_147_483_648
        config.storage = 10_737_418_240
        config.nics = 1
        return config
    }

    @Test func configBlobIsEpochsCompactJSONWithItsKeyOrder() throws {
        let files = [
            SnapshotFile(name: "config.json", mode: 0o644, size: 10),
            SnapshotFile(name: "overlay.qcow2", mode: 0o644, size: 10_737_418_240,
                         sparseMap: SparseMap(segments: [SparseSegment(offset: 0, length: 196_608)], logicalSize: 10_737_418_240)),
        ]
        let created = Date(timeIntervalSince1970: 1_776_988_800.123456)
        let text = String(decoding: SnapshotArtifact.configBlob(Self.sampleConfig(), files: files, createdAt: created), as: UTF8.self)
        let hex = String(repeating: "a", count: 64), blob = String(repeating: "b", count: 64)
        #expect(text == #"{"schemaVersion":"v1","snapshotId":"3QWZK7Y2ABCDEFGHJKLMNPQRST","image":"ubuntu:24.04","imageDigest":"sha256:\#(hex)","imageType":"cloudimg","imageBlobIds":{"\#(blob)":{}},"hypervisor":"cloud-hypervisor","cpu":2,"memory":2147483648,"storage":10737418240,"nics":1,"files":{"config.json":{"mode":420},"overlay.qcow2":{"mode":420,"sparseMap":"[{\"o\":0,\"l\":196608}]","sparseSize":10737418240}},"createdAt":"2026-04-24T00:00:00.123456001Z"}"#
            || text.hasSuffix(#""createdAt":"2026-04-24T00:00:00.123456Z"}"#))
    }

    @Test func extraKeysCarryWhatEpochDrops() throws {
        var config = Self.sampleConfig()
        config.queueSize = 256
        config.diskQueueSize = 128
        config.noDirectIO = true
        let bytes = SnapshotArtifact.configBlob(config, files: [], createdAt: Date(timeIntervalSince1970: 0))
        let json = try GoJSON(parsing: bytes)
        #expect(json["queueSize"]?.int64Value == 256)
        #expect(json["diskQueueSize"]?.int64Value == 128)
        #expect(json["noDirectIO"]?.boolValue == true)
    }
}
