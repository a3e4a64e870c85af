import OCI

/// A location that can hold an upload in itself while it arrives, in parts, and then make it a
/// blob without its bytes passing through Ferry again: an S3 bucket keeps the parts as a
/// multipart upload (a registry server's upload sessions go there, not to local disk).
/// Locations on a filesystem need none: their spools are files beside them already.
public protocol UploadSpooling: Storage {
    /// A new spool for an upload into `repository`; nil when this location has no spool of its
    /// own (the caller keeps the bytes in a file).
    func makeUploadSpool(in repository: String) async throws -> (any UploadSpool)?

    /// Removes the spools of uploads begun more than `age` ago and never finished (a server
    /// that was killed): those of live uploads of any process are younger. Returns how many.
    func sweepUploadSpools(olderThan age: Duration) async throws -> Int
}

/// One upload held in the location, part after part.
public protocol UploadSpool: Sendable {
    /// The size every part but the last has: the caller gathers bytes until then.
    var partSize: Int { get }

    /// Sends the next part (exactly `partSize` bytes).
    func append(part: [UInt8]) async throws

    /// The parts sent and `last` become the blob `descriptor`, visible whole or not at all,
    /// and only if every byte hashes to its digest (the spool hashes the parts as they go by).
    /// The spool is gone afterwards, whatever the outcome.
    func store(as descriptor: Descriptor, last: [UInt8]) async throws

    /// Drops the upload and everything sent so far.
    func discard() async
}
