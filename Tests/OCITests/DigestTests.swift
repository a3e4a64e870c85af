import Foundation
import Testing

import OCI

@Suite("Digest")
struct DigestTests {
    static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    static let abcSHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    static let emptySHA512 =
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
    static let abcSHA512 =
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"

    @Test func sha256OfKnownVectors() {
        let empty = Digest.compute([UInt8]())
        #expect(empty.algorithm == .sha256)
        #expect(empty.encoded == Self.emptySHA256)
        #expect(empty.description == "sha256:\(Self.emptySHA256)")

        let abc = Digest.compute(Array("abc".utf8))
        #expect(abc.description == "sha256:\(Self.abcSHA256)")
    }

    @Test func sha512OfKnownVectors() {
        let empty = Digest.compute([UInt8](), algorithm: .sha512)
        #expect(empty.algorithm == .sha512)
        #expect(empty.description == "sha512:\(Self.emptySHA512)")
        let abc = Digest.compute(Array("abc".utf8), algorithm: .sha512)
        #expect(abc.encoded == Self.abcSHA512)
    }

    @Test func computeAcceptsData() {
        #expect(Digest.compute(Data("abc".utf8)).encoded == Self.abcSHA256)
    }

    @Test(arguments: [Digest.Algorithm.sha256, .sha512])
    func incrementalHashingMatchesOneShot(algorithm: Digest.Algorithm) {
        let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var hasher = DigestHasher(algorithm)
        var index = 0
        for size in [1, 0, 17, 4096, 333] + Array(repeating: 1000, count: 10) {
            let end = min(index + size, bytes.count)
            bytes[index..<end].withUnsafeBytes { hasher.update($0) }
            index = end
        }
        #expect(index == bytes.count)
        #expect(hasher.algorithm == algorithm)
        #expect(hasher.finalize() == Digest.compute(bytes, algorithm: algorithm))
    }

    @Test func hasherTypedBufferOverload() {
        var hasher = DigestHasher(.sha256)
        let bytes = Array("abc".utf8)
        bytes.withUnsafeBufferPointer { hasher.update($0) }
        #expect(hasher.finalize().encoded == Self.abcSHA256)
    }

    @Test func parsesValidDigests() throws {
        let d256 = try Digest(parsing: "sha256:\(Self.abcSHA256)")
        #expect(d256.algorithm == .sha256)
        #expect(d256.encoded == Self.abcSHA256)
        #expect(d256 == Digest.compute(Array("abc".utf8)))

        let d512 = try Digest(parsing: "sha512:\(Self.abcSHA512)")
        #expect(d512.algorithm == .sha512)
        #expect(d512.description == "sha512:\(Self.abcSHA512)")

        let parts = try Digest(algorithm: .sha256, encoded: Self.emptySHA256)
        #expect(parts == Digest.compute([UInt8]()))
    }

    @Test(arguments: [
        // wrong length
        "sha256:\(String(DigestTests.abcSHA256.dropLast()))",
        "sha256:\(DigestTests.abcSHA256)0",
        "sha256:",
        "sha512:\(DigestTests.abcSHA256)",
        "sha256:\(DigestTests.abcSHA512)",
        // uppercase / non-hex
        "sha256:\(DigestTests.abcSHA256.uppercased())",
        "sha256:BA7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "sha256:ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "sha256: a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        // unknown algorithm
        "md5:900150983cd24fb0d6963f7d28e17f72",
        "sha384:\(DigestTests.abcSHA256)",
        "SHA256:\(DigestTests.abcSHA256)",
        ":\(DigestTests.abcSHA256)",
        // missing colon
        DigestTests.abcSHA256,
        "sha256\(DigestTests.abcSHA256)",
        "",
    ])
    func rejectsMalformedDigests(input: String) {
        #expect(throws: ValidationError.self) { try Digest(parsing: input) }
    }

    @Test func errorNamesTheInput() {
        let input = "sha256:abc"
        let error = #expect(throws: ValidationError.self) { try Digest(parsing: input) }
        #expect(error?.input == input)
        #expect(error?.description.hasPrefix(input) == true)
    }

    @Test func initFromPartsValidates() {
        #expect(throws: ValidationError.self) { try Digest(algorithm: .sha256, encoded: "abc") }
        #expect(throws: ValidationError.self) { try Digest(algorithm: .sha512, encoded: Self.abcSHA256) }
        #expect(throws: ValidationError.self) {
            try Digest(algorithm: .sha256, encoded: Self.abcSHA256.uppercased())
        }
    }

    @Test func hexLengths() {
        #expect(Digest.Algorithm.sha256.hexLength == 64)
        #expect(Digest.Algorithm.sha512.hexLength == 128)
    }

    struct Holder: Codable, Equatable {
        var digest: Digest
        var others: [Digest]
    }

    @Test func codableRoundTrip() throws {
        let value = Holder(
            digest: Digest.compute(Array("abc".utf8)),
            others: [Digest.compute([UInt8]()), Digest.compute(Array("abc".utf8), algorithm: .sha512)])
        let data = try JSONEncoder().encode(value)
        let json = try #require(String(data: data, encoding: .utf8))
        #expect(json.contains("\"sha256:\(Self.abcSHA256)\""))
        #expect(json.contains("\"sha512:\(Self.abcSHA512)\""))
        let decoded = try JSONDecoder().decode(Holder.self, from: data)
        #expect(decoded == value)
    }

    @Test func encodesAsBareString() throws {
        let data = try JSONEncoder().encode([Digest.compute([UInt8]())])
        #expect(String(decoding: data, as: UTF8.self) == "[\"sha256:\(Self.emptySHA256)\"]")
    }

    @Test func decodingAnInvalidDigestFails() {
        let json = Data(#"{"digest":"sha256:XYZ","others":[]}"#.utf8)
        #expect(throws: (any Error).self) { try JSONDecoder().decode(Holder.self, from: json) }
        let number = Data(#"{"digest":5,"others":[]}"#.utf8)
        #expect(throws: (any Error).self) { try JSONDecoder().decode(Holder.self, from: number) }
    }

    @Test func comparableAndHashable() throws {
        let a = try Digest(parsing: "sha256:" + String(repeating: "0", count: 64))
        let b = try Digest(parsing: "sha256:" + String(repeating: "f", count: 64))
        let c = try Digest(parsing: "sha512:" + String(repeating: "0", count: 128))
        #expect(a < b)
        #expect(b < c)
        #expect([c, b, a].sorted() == [a, b, c])
        #expect(Set([a, b, a, try Digest(parsing: a.description)]).count == 2)
    }
}
