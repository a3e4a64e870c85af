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
        let created = Date(timeIntervalSince1970: 1_776_988_800.25)
        let text = String(decoding: SnapshotArtifact.configBlob(Self.sampleConfig(), files: files, createdAt: created), as: UTF8.self)
        let hex = String(repeating: "a", count: 64), blob = String(repeating: "b", count: 64)
        #expect(text == #"{"schemaVersion":"v1","snapshotId":"3QWZK7Y2ABCDEFGHJKLMNPQRST","image":"ubuntu:24.04","imageDigest":"sha256:\#(hex)","imageType":"cloudimg","imageBlobIds":{"\#(blob)":{}},"hypervisor":"cloud-hypervisor","cpu":2,"memory":2147483648,"storage":10737418240,"nics":1,"files":{"config.json":{"mode":420},"overlay.qcow2":{"mode":420,"sparseMap":"[{\"o\":0,\"l\":196608}]","sparseSize":10737418240}},"createdAt":"2026-04-24T00:00:00.25Z"}"#)
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

    @Test func manifestIsEpochsIndentedDocument() throws {
        let config = Descriptor(mediaType: MediaType.cocoonSnapshotConfig, digest: Digest.compute([1]), size: 702)
        let layer = SnapshotArtifact.layer(for: SnapshotFile(name: "config.json", mode: 0o644, size: 4321), digest: Digest.compute([2]))
        let bytes = SnapshotArtifact.manifest(config: config, layers: [layer], options: SnapshotArtifactOptions(baseImage: "ghcr.io/cocoonstack/cocoon/ubuntu:24.04"),
                                              created: Date(timeIntervalSince1970: 1_776_988_800.9))
        let expected = """
            {
              "schemaVersion": 2,
              "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "artifactType": "application/vnd.cocoonstack.snapshot.v1+json",
              "config": {
                "mediaType": "application/vnd.cocoonstack.snapshot.config.v1+json",
                "digest": "\(config.digest)",
                "size": 702
              },
              "layers": [
                {
                  "mediaType": "application/vnd.cocoonstack.vm.config+json",
                  "digest": "\(layer.digest)",
                  "size": 4321,
                  "annotations": {
                    "org.opencontainers.image.title": "config.json"
                  }
                }
              ],
              "annotations": {
                "cocoonstack.snapshot.baseimage": "ghcr.io/cocoonstack/cocoon/ubuntu:24.04",
                "org.opencontainers.image.created": "2026-04-24T00:00:00Z"
              }
            }
            """
        #expect(String(decoding: bytes, as: UTF8.self) == expected)
    }

    @Test func layerTypesFollowTheFileName() {
        let expected = [
            "config.json": MediaType.cocoonVMConfig, "state.json": MediaType.cocoonVMState, "memory-ranges": MediaType.cocoonVMMemory,
            "memory-range-0": MediaType.octetStream, "cidata.img": MediaType.cocoonVMCidata, "overlay.qcow2": MediaType.cocoonDiskQcow2,
            "cow.raw": MediaType.cocoonDiskRaw, "data-vdb.raw": MediaType.cocoonDiskRaw, "vmstate": MediaType.octetStream, "cocoon.json": MediaType.octetStream,
        ]
        for (name, type) in expected { #expect(SnapshotArtifact.layerMediaType(for: name) == type, "\(name)") }
    }

    @Test func partsReadBackModesAndSparseMapsAndRefuseBadOnes() throws {
        let map = SparseMap(segments: [SparseSegment(offset: 4096, length: 8192)], logicalSize: 1 << 20)
        let files = [SnapshotFile(name: "cow.raw", mode: 0o600, size: 1 << 20, sparseMap: map), SnapshotFile(name: "vmstate", mode: 0, size: 5)]
        let configBytes = SnapshotArtifact.configBlob(Self.sampleConfig(), files: files, createdAt: Date(timeIntervalSince1970: 0))
        let configDescriptor = Descriptor(mediaType: MediaType.cocoonSnapshotConfig, digest: Digest.compute(configBytes), size: Int64(configBytes.count))
        let layers = files.map { SnapshotArtifact.layer(for: $0, digest: Digest.compute([UInt8]($0.name.utf8))) }
        let manifest = try Manifest(bytes: SnapshotArtifact.manifest(config: configDescriptor, layers: layers, options: .init(), created: Date()))
        let parts = try SnapshotArtifact.parts(of: manifest, configBytes: configBytes, what: "t")
        #expect(parts.config.cpu == 2 && parts.config.id == "3QWZK7Y2ABCDEFGHJKLMNPQRST")
        #expect(parts.files.map(\.file) == [files[0], SnapshotFile(name: "vmstate", mode: 0o640, size: 5)])

        // A sparse map whose data does not add up to the layer is refused.
        var bad = try GoJSON(parsing: configBytes)
        if case .object(var members) = bad, let i = members.firstIndex(where: { $0.key == "files" }) {
            members[i].value = .map(["cow.raw": .object([("mode", .int(384)), ("sparseMap", .string("[{\"o\":0,\"l\":10}]")), ("sparseSize", .int(1 << 20))])])
            bad = .object(members)
        }
        #expect(throws: StorageError.self) { try SnapshotArtifact.parts(of: manifest, configBytes: Array(bad.compact().utf8), what: "t") }
    }

    /// `imageBlobIds` is a Go map: a key given twice is one id (as the snapshots-json fuzz
    /// harness found for snapshots.json), so a config read and written again stays the same.
    @Test func aBlobIDGivenTwiceInAConfigIsOneID() throws {
        let files = [SnapshotFile(name: "config.json", mode: 0o644, size: 2)]
        let configBytes = SnapshotArtifact.configBlob(Self.sampleConfig(), files: files, createdAt: Date(timeIntervalSince1970: 0))
        let text = String(decoding: configBytes, as: UTF8.self)
        let doubled = text.replacingOccurrences(of: #""imageBlobIds":{"#, with: #""imageBlobIds":{"ab":{},"ab":{},"#)
        #expect(doubled != text)
        let bytes = Array(doubled.utf8)
        let configDescriptor = Descriptor(mediaType: MediaType.cocoonSnapshotConfig, digest: Digest.compute(bytes), size: Int64(bytes.count))
        let layers = files.map { SnapshotArtifact.layer(for: $0, digest: Digest.compute([UInt8]($0.name.utf8))) }
        let manifest = try Manifest(bytes: SnapshotArtifact.manifest(config: configDescriptor, layers: layers, options: .init(), created: Date()))
        let ids = try SnapshotArtifact.parts(of: manifest, configBytes: bytes, what: "t").config.imageBlobIDs
        #expect(ids.filter { $0 == "ab" }.count == 1 && Set(ids).count == ids.count, "\(ids)")
    }

    @Test func aSetuidModeInAConfigComesBackAsPermissionBitsOnly() throws {
        let files = [SnapshotFile(name: "config.json", mode: 0o644, size: 2)]
        let configBytes = SnapshotArtifact.configBlob(Self.sampleConfig(), files: files, createdAt: Date(timeIntervalSince1970: 0))
        var hostile = try GoJSON(parsing: configBytes)
        if case .object(var members) = hostile, let i = members.firstIndex(where: { $0.key == "files" }) {
            members[i].value = .map(["config.json": .object([("mode", .int(0o6755))])])
            hostile = .object(members)
        }
        let bytes = Array(hostile.compact().utf8)
        let configDescriptor = Descriptor(mediaType: MediaType.cocoonSnapshotConfig, digest: Digest.compute(bytes), size: Int64(bytes.count))
        let layers = files.map { SnapshotArtifact.layer(for: $0, digest: Digest.compute([UInt8]($0.name.utf8))) }
        let manifest = try Manifest(bytes: SnapshotArtifact.manifest(config: configDescriptor, layers: layers, options: .init(), created: Date()))
        let parts = try SnapshotArtifact.parts(of: manifest, configBytes: bytes, what: "t")
        #expect(parts.files[0].file.mode == 0o755)
        #expect(SnapshotFile(name: "x", mode: 0o107777, size: 0).mode == 0o777)
    }

    @Test func aLayerTitledLikeTheEnvelopeIsRefused() throws {
        let files = [SnapshotFile(name: "snapshot.json", mode: 0o644, size: 2)]
        let configBytes = SnapshotArtifact.configBlob(Self.sampleConfig(), files: files, createdAt: Date(timeIntervalSince1970: 0))
        let configDescriptor = Descriptor(mediaType: MediaType.cocoonSnapshotConfig, digest: Digest.compute(configBytes), size: Int64(configBytes.count))
        let layers = files.map { SnapshotArtifact.layer(for: $0, digest: Digest.compute([UInt8]($0.name.utf8))) }
        let manifest = try Manifest(bytes: SnapshotArtifact.manifest(config: configDescriptor, layers: layers, options: .init(), created: Date()))
        #expect { try SnapshotArtifact.parts(of: manifest, configBytes: configBytes, what: "t") } throws: {
            ($0 as? StorageError)?.message.contains("envelope") == true
        }
    }
}
