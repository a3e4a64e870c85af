import FerryCore
import Foundation
// ObjectInfo and the S3 listing parser live in S3Listing (Foundation only, so it can be fuzzed alone).
@_exported import S3Listing

/// A flat key space of byte objects: a local directory or an S3 bucket. The Epoch registry
/// keeps everything in one.
public protocol ObjectStore: Sendable {
    /// How the store appears in messages (never with credentials).
    var displayName: String { get }

    /// Stores `size` bytes under `key`, atomically: readers see the old object or the new one.
    func put(_ key: String, from stream: ByteStream, size: Int64) async throws

    /// Stores small bytes whole, atomically. A store that can have the server check the body
    /// (S3's `Content-MD5`) does, so a request cut short can never store a shorter object.
    func write(_ key: String, _ bytes: [UInt8]) async throws

    /// The bytes of an object, or of `range` of it.
    func get(_ key: String, range: Range<Int64>?) async throws -> ByteStream

    /// The object's size, or nil when there is none.
    func head(_ key: String) async throws -> ObjectInfo?

    /// Every object whose key starts with `prefix`, in key order.
    func list(prefix: String) async throws -> [ObjectInfo]

    /// Refreshes an object's modification time, where the store can do so cheaply.
    func touch(_ key: String) async throws

    /// Removes an object; a missing one is not an error.
    func delete(_ key: String) async throws

    /// Fails when the bucket itself is not there: reading a bucket that does not exist is an
    /// error, not an empty listing.
    func requireBucket() async throws

    /// Removes what writers killed before they finished left behind (temporary files of a
    /// directory store); returns how many. Stores without such leftovers have nothing to do.
    func sweepTemporaryFiles() async throws -> Int

    /// Reads an object, changes it and writes it back, safe against other processes doing the
    /// same: `transform` gets the current bytes (nil when absent) and returns the new bytes, or
    /// nil to leave the object as it is.
    func update(_ key: String, _ transform: @escaping @Sendable ([UInt8]?) throws -> [UInt8]?) async throws

    /// Whether the store has a lock that other processes honour and object times that `touch`
    /// refreshes: only then may a failed copy remove what it wrote, since only then can it tell
    /// what another copy relies on.
    var supportsLocking: Bool { get }

    /// Runs `body` holding the store's lock (the one `update` takes), excluding other writers;
    /// `update` inside `body` does not wait for it. A store without such a lock just runs `body`.
    func exclusive<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T
}

extension ObjectStore {
    public var supportsLocking: Bool { false }
    public func exclusive<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T { try await body() }

    /// Whether an object exists.
    public func sweepTemporaryFiles() async throws -> Int { 0 }

    public func exists(_ key: String) async throws -> Bool { try await head(key) != nil }

    /// A whole small object, or nil when there is none.
    public func read(_ key: String, limit: Int) async throws -> [UInt8]? {
        guard try await head(key) != nil else { return nil }
        return try await get(key, range: nil).collect(upTo: limit, what: "\(displayName): \(key)")
    }

    /// Stores small bytes through `put`.
    public func write(_ key: String, _ bytes: [UInt8]) async throws {
        try await put(key, from: .bytes(bytes), size: Int64(bytes.count))
    }
}
