import Foundation
import Crypto

/// A content digest such as `sha256:<64 hex>`. A `Digest` that exists is valid.
public struct Digest: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The digest algorithms Ferry computes and verifies.
    public enum Algorithm: String, Sendable, CaseIterable {
        case sha256, sha512

        /// The number of hex characters in an encoded digest of this algorithm.
        public var hexLength: Int {
            switch self {
            case .sha256: 64
            case .sha512: 128
            }
        }
    }

    /// The algorithm that produced the digest.
    public let algorithm: Algorithm
    /// The lowercase hex encoding of the hash.
    public let encoded: String

    /// Builds a digest from its parts, validating the encoding.
    public init(algorithm: Algorithm, encoded: String) throws {
        let input = "\(algorithm.rawValue):\(encoded)"
        guard encoded.utf8.count == algorithm.hexLength else {
            throw ValidationError(input, "a \(algorithm.rawValue) digest has \(algorithm.hexLength) hex characters, not \(encoded.utf8.count)")
        }
        guard encoded.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            throw ValidationError(input, "the encoded part must be lowercase hex")
        }
        self.algorithm = algorithm
        self.encoded = encoded
    }

    /// Parses `algorithm:hex`.
    public init(parsing string: String) throws {
        guard let colon = string.firstIndex(of: ":") else {
            throw ValidationError(string, "not a digest (expected sha256:<hex>)")
        }
        let name = String(string[..<colon])
        guard let algorithm = Algorithm(rawValue: name) else {
            throw ValidationError(string, "unsupported digest algorithm '\(name)' (sha256 and sha512 are supported)")
        }
        try self.init(algorithm: algorithm, encoded: String(string[string.index(after: colon)...]))
    }

    /// The digest of `bytes`.
    public static func compute<Bytes: ContiguousBytes>(_ bytes: Bytes, algorithm: Algorithm = .sha256) -> Digest {
        var hasher = DigestHasher(algorithm)
        bytes.withUnsafeBytes { hasher.update($0) }
        return hasher.finalize()
    }

    /// `algorithm:hex`, the form used in descriptors and headers.
    public var description: String { "\(algorithm.rawValue):\(encoded)" }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        try self.init(parsing: try container.decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Incremental hashing for one of the digest algorithms.
public struct DigestHasher {
    private enum State {
        case sha256(SHA256)
        case sha512(SHA512)
    }

    private var state: State
    /// The algorithm this hasher computes.
    public let algorithm: Digest.Algorithm

    public init(_ algorithm: Digest.Algorithm) {
        self.algorithm = algorithm
        switch algorithm {
        case .sha256: state = .sha256(SHA256())
        case .sha512: state = .sha512(SHA512())
        }
    }

    /// Feeds bytes to the hash.
    public mutating func update(_ bytes: UnsafeBufferPointer<UInt8>) {
        update(UnsafeRawBufferPointer(bytes))
    }

    /// Feeds bytes to the hash.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .sha256(var h):
            h.update(bufferPointer: bytes)
            state = .sha256(h)
        case .sha512(var h):
            h.update(bufferPointer: bytes)
            state = .sha512(h)
        }
    }

    /// The digest of everything fed so far.
    public func finalize() -> Digest {
        let bytes: [UInt8]
        switch state {
        case .sha256(let h): bytes = Array(h.finalize())
        case .sha512(let h): bytes = Array(h.finalize())
        }
        let table = Array("0123456789abcdef".utf8)
        var hex = [UInt8]()
        hex.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            hex.append(table[Int(byte >> 4)])
            hex.append(table[Int(byte & 0x0f)])
        }
        // The encoding is built here, so it is valid by construction.
        return try! Digest(algorithm: algorithm, encoded: String(decoding: hex, as: UTF8.self))
    }
}
