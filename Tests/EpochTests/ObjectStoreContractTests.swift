import FerryCore
import Foundation
import Layout
import OCI
import Testing

@testable import Epoch

/// One suite for both object stores: the directory store always, the S3 store against the
/// SeaweedFS server that `make test` starts (FERRY_TEST_S3_*).
enum TestStores {
    static let environment = ProcessInfo.processInfo.environment
    static var s3Available: Bool { environment["FERRY_TEST_S3_ENDPOINT"] != nil }

    static func s3Config(bucket: String) throws -> EpochS3Config {
        let config = try EpochS3Config.load(environment: [
            "EPOCH_S3_ENDPOINT": environment["FERRY_TEST_S3_ENDPOINT"] ?? "", "EPOCH_S3_ACCESS_KEY": environment["FERRY_TEST_S3_ACCESS_KEY"] ?? "",
            "EPOCH_S3_SECRET_KEY": environment["FERRY_TEST_S3_SECRET_KEY"] ?? "", "EPOCH_S3_BUCKET": bucket,
        ], readFile: { _ in nil })
        return try #require(config)
    }

    /// Where this process's directory buckets go: one folder, removed when the test process ends.
    static let directoryBuckets: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-contract-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: TestStores.directoryBuckets) }
        return path
    }()

    /// A fresh, empty store of the given kind.
    static func make(_ kind: String) async throws -> any ObjectStore {
        let name = "ferry-\(UUID().uuidString.prefix(8).lowercased())"
        if kind == "directory" {
            return DirectoryObjectStore(root: "\(directoryBuckets)/\(name)")
        }
        let store = try S3ObjectStore(config: try s3Config(bucket: name))
        try await store.createBucket()
        return store
    }

    static var kinds: [String] { s3Available ? ["directory", "s3"] : ["directory"] }
}

@Suite struct ObjectStoreContractTests {
    @Test(arguments: TestStores.kinds)
    func putGetHeadListDelete(_ kind: String) async throws {
        let store = try await TestStores.make(kind)
        let bytes = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try await store.put("epoch/blobs/sha256/aa", from: .bytes(bytes), size: Int64(bytes.count))
        try await store.write("epoch/manifests/a/b/v1.json", Array("{}".utf8))
        #expect(try await store.head("epoch/blobs/sha256/aa")?.size == Int64(bytes.count))
        #expect(try await store.head("epoch/nothing") == nil)
        let back = try await store.get("epoch/blobs/sha256/aa", range: nil).collect(upTo: 4_000_000, what: "get")
        #expect(back == bytes)
        let part = try await store.get("epoch/blobs/sha256/aa", range: 1000..<1010).collect(upTo: 100, what: "range")
        #expect(part == Array(bytes[1000..<1010]))
        #expect(try await store.list(prefix: "epoch/").map(\.key) == ["epoch/blobs/sha256/aa", "epoch/manifests/a/b/v1.json"])
        #expect(try await store.list(prefix: "epoch/manifests/a/").map(\.key) == ["epoch/manifests/a/b/v1.json"])
        try await store.delete("epoch/blobs/sha256/aa")
        try await store.delete("epoch/blobs/sha256/aa")  // a missing object is not an error
        #expect(try await store.head("epoch/blobs/sha256/aa") == nil)
    }

    @Test(arguments: TestStores.kinds)
    func concurrentUpdatesLoseNothing(_ kind: String) async throws {
        let store = try await TestStores.make(kind)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<8 {
                group.addTask {
                    try await store.update("epoch/counter") { current in
                        let lines = current.map { String(decoding: $0, as: UTF8.self) } ?? ""
                        return Array((lines + "\(index)\n").utf8)
                    }
                }
            }
            try await group.waitForAll()
        }
        let text = String(decoding: try await store.read("epoch/counter", limit: 1 << 16) ?? [], as: UTF8.self)
        #expect(Set(text.split(separator: "\n")) == Set((0..<8).map { Substring("\($0)") }))
    }

    @Test(arguments: TestStores.kinds)
    func aCopyWritesTheSameKeysAndBytesInEveryStore(_ kind: String) async throws {
        let objects = try await TestStores.make(kind)
        let bucket = EpochStore(objects: objects)
        let layout = LayoutStore(directory: EpochStoreTests.fixtures.appendingPathComponent("umoci-layout").path)
        try await CopyEngine().copy(from: CopyEndpoint(layout), .tag("v2"), to: CopyEndpoint(bucket, repository: "team/app"), tag: "v2")
        let keys = Set(try await objects.list(prefix: "").map(\.key))
        #expect(keys == [
            "epoch/catalog.json", "epoch/manifests/team/app/v2.json",
            "epoch/manifests/team/app/_digests/sha256-\(EpochStoreTests.v2.encoded).json",
            "epoch/blobs/sha256/4d5f3267867ee2cd5f95ce2ee6aa3d190ef2542fe838239afa85875acdf3ee0d",
            "epoch/blobs/sha256/b8f21b73fc6ffac9721ae79b65bc943245c22d3d20843cfeae44149cc6ce6ed7",
            "epoch/blobs/sha256/01a765c31005c24e8d5f02e40f144c9455e12c8b0ec6da1b1424f1424a45b4a8",
        ])
        let manifest = try await objects.read("epoch/manifests/team/app/v2.json", limit: 1 << 16)
        #expect(manifest.map { Digest.compute($0) } == EpochStoreTests.v2)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-s3-out-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: out) }
        let back = try await CopyEngine().copy(from: CopyEndpoint(bucket, repository: "team/app"), .tag("v2"), to: CopyEndpoint(LayoutStore(directory: out.path)), tag: "v2")
        #expect(back.root.digest == EpochStoreTests.v2)
    }
}

@Suite(.enabled(if: TestStores.s3Available, "needs the SeaweedFS server that make test starts"))
struct S3SigningTests {
    @Test func aWrongSecretIsRefusedAndNotShown() async throws {
        let good = try await TestStores.make("s3") as! S3ObjectStore
        var config = good.config
        config.credentials = S3Credentials(accessKey: config.credentials.accessKey, secretKey: "not-the-secret")
        let bad = try S3ObjectStore(config: config)
        do {
            try await bad.write("epoch/x", Array("x".utf8))
            Issue.record("a request signed with the wrong secret was accepted")
        } catch let error as StorageError {
            #expect(error.message.contains("SignatureDoesNotMatch") || error.code == .denied)
            #expect(!error.message.contains("not-the-secret") && !error.message.contains("ferrytestsecret"))
        }
        #expect(try await good.head("epoch/x") == nil)
    }
}

@Suite(.enabled(if: TestStores.s3Available, "needs the SeaweedFS server that make test starts"))
struct S3MultipartTests {
    @Test func largeObjectsGoUpInPartsAndComeBackWhole() async throws {
        let plain = try await TestStores.make("s3") as! S3ObjectStore
        let store = try S3ObjectStore(config: plain.config, multipartThreshold: 6 << 20, partSize: 5 << 20, partsInFlight: 2)
        // Varied bytes, so that a part out of place would show.
        let bytes = (0..<(13 << 20)).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) }
        try await store.put("epoch/blobs/sha256/big", from: .bytes(bytes, chunkSize: 1 << 20), size: Int64(bytes.count))
        #expect(try await store.head("epoch/blobs/sha256/big")?.size == Int64(bytes.count))
        let back = try await store.get("epoch/blobs/sha256/big", range: nil).collect(upTo: 14 << 20, what: "get")
        #expect(back == bytes)
    }

    @Test func aFailureMidwayLeavesNoObject() async throws {
        let plain = try await TestStores.make("s3") as! S3ObjectStore
        let store = try S3ObjectStore(config: plain.config, multipartThreshold: 6 << 20, partSize: 5 << 20, partsInFlight: 2)
        let bytes = [UInt8](repeating: 7, count: 12 << 20)
        let descriptor = OCI.Descriptor(mediaType: MediaType.octetStream, digest: Digest.compute(Array("other".utf8)), size: Int64(bytes.count))
        // The digest check fails at the end of the stream, after parts went up: the upload is aborted.
        await #expect(throws: StorageError.self) {
            try await store.put("epoch/blobs/sha256/bad", from: ByteStream.bytes(bytes).verifying(descriptor), size: Int64(bytes.count))
        }
        #expect(try await store.head("epoch/blobs/sha256/bad") == nil)
    }
}

/// SeaweedFS (4.48 here) stores an *empty* object, now and then, when the client is killed in the
/// middle of a small PUT (one in about 1,000 kills of `curl -T`; the kill-anywhere test saw it
/// as an empty tag object). Small writes therefore declare `Content-MD5`, which S3 and SeaweedFS
/// check before storing: a body that is not the one declared is refused and the old object kept.
@Suite(.enabled(if: TestStores.s3Available, "needs the SeaweedFS server that make test starts"))
struct S3WholeWriteTests {
    @Test func contentMD5IsTheBase64OfTheBodysMD5() {
        // RFC 1321's test vector for "abc".
        let header = S3ObjectStore.contentMD5(Array("abc".utf8))
        #expect(header.0 == "Content-MD5")
        #expect(header.1 == Data([0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0, 0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1, 0x7f, 0x72]).base64EncodedString())
    }

    @Test func aBodyThatIsNotTheOneDeclaredIsRefusedAndTheOldObjectKept() async throws {
        let store = try await TestStores.make("s3") as! S3ObjectStore
        let tag = Array(#"{"schemaVersion":2}"#.utf8)
        try await store.write("epoch/manifests/app/v1.json", tag)
        for received in [[UInt8](), Array(tag.prefix(5))] {
            do {
                try await store.putWhole("epoch/manifests/app/v1.json", received, md5Of: tag)
                Issue.record("a body of \(received.count) bytes declared as \(tag.count) was stored")
            } catch let error as StorageError {
                #expect(error.message.contains("BadDigest"))
            }
            #expect(try await store.read("epoch/manifests/app/v1.json", limit: 1 << 10) == tag)
        }
    }
}
