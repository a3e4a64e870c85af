import FerryCore
import Foundation
import Testing

@testable import Epoch

/// Path-style and virtual-host requests. Virtual-host needs DNS for `BUCKET.HOST`, which the test
/// server on 127.0.0.1 cannot have, so the requests are checked as they would go on the wire,
/// against the signatures AWS publishes for its `examplebucket` examples.
@Suite struct S3AddressingTests {
    static let date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z

    static func config(_ environment: [String: String]) throws -> EpochS3Config {
        try #require(try EpochS3Config.load(
            environment: ["EPOCH_S3_ACCESS_KEY": "AKIAIOSFODNN7EXAMPLE", "EPOCH_S3_SECRET_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                          "EPOCH_S3_BUCKET": "examplebucket", "EPOCH_S3_ENV_FILE": "/nonexistent"].merging(environment) { $1 }))
    }

    @Test func awsEndpointsGetVirtualHostRequestsSignedAsAWSDocuments() throws {
        let config = try Self.config(["EPOCH_S3_ENDPOINT": "https://s3.amazonaws.com"])
        #expect(config.addressing == .virtualHost)
        let store = try S3ObjectStore(config: config)
        #expect(store.target(for: "test.txt") == (host: "examplebucket.s3.amazonaws.com", path: "/test.txt"))
        #expect(store.target(for: nil) == (host: "examplebucket.s3.amazonaws.com", path: "/"))

        // AWS's "GET Object" example: the same signature, sent to the bucket's own host.
        let get = store.signedRequest("GET", key: "test.txt", headers: [("Range", "bytes=0-9")], date: Self.date)
        #expect(get.url == "https://examplebucket.s3.amazonaws.com/test.txt")
        let authorization = get.headers.first { $0.0 == "Authorization" }?.1
        #expect(authorization?.hasSuffix("Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41") == true)

        // AWS's "GET Bucket (List Objects)" example.
        let list = store.signedRequest("GET", key: nil, query: [("max-keys", "2"), ("prefix", "J")], date: Self.date)
        #expect(list.url == "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J")
        #expect(list.headers.first { $0.0 == "Authorization" }?.1.hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7") == true)
    }

    @Test func otherEndpointsGetPathStyleRequests() throws {
        let config = try Self.config(["EPOCH_S3_ENDPOINT": "http://127.0.0.1:9000"])
        #expect(config.addressing == .path)
        let store = try S3ObjectStore(config: config)
        let get = store.signedRequest("GET", key: "epoch/blobs/sha256/ab", date: Self.date)
        #expect(get.url == "http://127.0.0.1:9000/examplebucket/epoch/blobs/sha256/ab")
        #expect(store.target(for: nil) == (host: "127.0.0.1:9000", path: "/examplebucket"))
    }

    @Test func addressingCanBeForcedEitherWay() throws {
        #expect(try Self.config(["EPOCH_S3_ENDPOINT": "https://s3.amazonaws.com", "EPOCH_S3_ADDRESSING": "path"]).addressing == .path)
        #expect(try Self.config(["EPOCH_S3_ENDPOINT": "minio.internal:9000", "EPOCH_S3_ADDRESSING": "virtual"]).addressing == .virtualHost)
        // A dotted bucket would not match AWS's wildcard certificate: auto keeps path-style.
        #expect(try Self.config(["EPOCH_S3_ENDPOINT": "https://s3.eu-west-1.amazonaws.com", "EPOCH_S3_BUCKET": "my.bucket"]).addressing == .path)
        #expect(try Self.config(["EPOCH_S3_ENDPOINT": "https://s3.eu-west-1.amazonaws.com"]).addressing == .virtualHost)
        #expect(throws: EpochS3Config.ConfigError.self) {
            try Self.config(["EPOCH_S3_ENDPOINT": "https://s3.amazonaws.com", "EPOCH_S3_ADDRESSING": "sideways"])
        }
    }

    @Test func aSizePastWhatS3StoresFailsBeforeAnyRequest() async throws {
        // 127.0.0.1:9 (discard) is never reached: the size is refused first, so no multipart
        // upload is started that could be left behind.
        let store = try S3ObjectStore(config: try Self.config(["EPOCH_S3_ENDPOINT": "http://127.0.0.1:9"]))
        for size in [Int64.max, S3ObjectStore.maximumObjectSize + 1, -1] {
            await #expect { try await store.put("k", from: .bytes([]), size: size) } throws: {
                (($0 as? FerryCore.StorageError)?.message.contains("5 TiB")) == true
            }
        }
    }
}
