import Foundation
import Testing

@testable import Epoch

/// The signer against AWS's published examples (the SigV4 test suite and the S3 documentation).
@Suite struct SigV4Tests {
    static let suiteSigner = SigV4Signer(
        credentials: S3Credentials(accessKey: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1", service: "service")
    static let s3Signer = SigV4Signer(
        credentials: S3Credentials(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1")
    /// 2015-08-30T12:36:00Z and 2013-05-24T00:00:00Z.
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)
    static let s3Date = Date(timeIntervalSince1970: 1_369_353_600)

    @Test func getVanilla() {
        let signed = Self.suiteSigner.sign(
            method: "GET", path: "/", headers: [("Host", "example.amazonaws.com")], payloadHash: SigV4Signer.emptyPayloadHash, date: Self.suiteDate)
        #expect(signed.amzDate == "20150830T123600Z")
        #expect(signed.stringToSign.hasSuffix("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"))
        #expect(signed.authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    @Test func getVanillaQueryOrderKeyCase() {
        let signed = Self.suiteSigner.sign(
            method: "GET", path: "/", query: [("Param2", "value2"), ("Param1", "value1")], headers: [("Host", "example.amazonaws.com")],
            payloadHash: SigV4Signer.emptyPayloadHash, date: Self.suiteDate)
        #expect(signed.signature == "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
    }

    @Test func s3GetObjectWithRange() {
        let signed = Self.s3Signer.sign(
            method: "GET", path: "/test.txt",
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"), ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash)],
            payloadHash: SigV4Signer.emptyPayloadHash, date: Self.s3Date)
        #expect(signed.stringToSign.hasSuffix("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"))
        #expect(signed.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func s3PutObject() {
        let payload = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"  // sha256("Welcome to Amazon S3.")
        let signed = Self.s3Signer.sign(
            method: "PUT", path: "/" + SigV4Signer.uriEncode("test$file.text", encodeSlash: true),
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                      ("x-amz-storage-class", "REDUCED_REDUNDANCY"), ("x-amz-content-sha256", payload)],
            payloadHash: payload, date: Self.s3Date)
        #expect(signed.canonicalRequest.hasPrefix("PUT\n/test%24file.text\n"))
        #expect(signed.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func s3ListObjects() {
        let signed = Self.s3Signer.sign(
            method: "GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")],
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash)],
            payloadHash: SigV4Signer.emptyPayloadHash, date: Self.s3Date)
        #expect(signed.signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func uriEncoding() {
        #expect(SigV4Signer.uriEncode("a b+c/d~é", encodeSlash: false) == "a%20b%2Bc/d~%C3%A9")
        #expect(SigV4Signer.uriEncode("a/b", encodeSlash: true) == "a%2Fb")
    }

    @Test func credentialsNeverPrintTheSecret() {
        let credentials = S3Credentials(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        #expect(!"\(credentials)".contains("wJalr"))
        #expect(!"\(credentials)".contains("AKIAIOSFODNN7EXAMPLE"))
    }
}

/// EPOCH_S3_* read as epoch reads them.
@Suite struct EpochS3ConfigTests {
    @Test func environmentFirstFileForTheRestPrefixNeverFromTheFile() throws {
        let file = """
            # epoch's s3.env
            EPOCH_S3_ENDPOINT=http://127.0.0.1:8333
            EPOCH_S3_ACCESS_KEY=fromfile
            EPOCH_S3_SECRET_KEY="file secret"
            EPOCH_S3_BUCKET=bucket-from-file
            EPOCH_S3_PREFIX=ignored/
            """
        let config = try #require(try EpochS3Config.load(
            environment: ["EPOCH_S3_BUCKET": "mine", "EPOCH_S3_ENV_FILE": "/x/s3.env"],
            readFile: { $0 == "/x/s3.env" ? file : nil }))
        #expect(config.host == "127.0.0.1:8333")
        #expect(!config.secure)
        #expect(config.bucket == "mine")
        #expect(config.credentials.accessKey == "fromfile" && config.credentials.secretKey == "file secret")
        #expect(config.prefix == "epoch/")
        #expect(config.region == "us-east-1")
        #expect(!config.description.contains("file secret"))
    }

    @Test func theFileIsNotReadWhenTheEnvironmentHasEverything() throws {
        let config = try #require(try EpochS3Config.load(
            environment: ["EPOCH_S3_ENDPOINT": "s3.example.com", "EPOCH_S3_ACCESS_KEY": "a", "EPOCH_S3_SECRET_KEY": "s",
                          "EPOCH_S3_BUCKET": "b", "EPOCH_S3_PREFIX": "mirror/", "EPOCH_S3_SECURE": "false"],
            readFile: { _ in Issue.record("the env file was read"); return nil }))
        #expect(config.host == "s3.example.com" && !config.secure && config.prefix == "mirror/")
    }

    @Test func aBareHostIsSecureAndNoEndpointIsNoConfig() throws {
        let config = try #require(try EpochS3Config.load(
            environment: ["EPOCH_S3_ENDPOINT": "s3.example.com", "EPOCH_S3_ACCESS_KEY": "a", "EPOCH_S3_SECRET_KEY": "s", "EPOCH_S3_BUCKET": "b"],
            readFile: { _ in nil }))
        #expect(config.secure)
        #expect(try EpochS3Config.load(environment: [:], readFile: { _ in nil }) == nil)
        #expect(throws: EpochS3Config.ConfigError.self) {
            try EpochS3Config.load(environment: ["EPOCH_S3_ENDPOINT": "h", "EPOCH_S3_BUCKET": "b", "EPOCH_S3_ACCESS_KEY": "a"], readFile: { _ in nil })
        }
    }
}
