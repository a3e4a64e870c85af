import OCI

/// What the copy engine reports as it works: enough for progress bars, log lines and `--json`.
public enum CopyEvent: Sendable {
    /// The graph is known: the root, how many manifests and blobs it holds, their total size.
    case planned(root: Descriptor, kind: ArtifactKind, manifests: Int, blobs: Int, bytes: Int64)
    /// The destination already had the blob; nothing was read.
    case blobSkipped(Descriptor)
    /// The blob started to move.
    case blobStarted(Descriptor)
    /// `bytes` of the blob have moved so far.
    case blobProgress(Descriptor, bytes: Int64)
    /// The blob moved and was verified.
    case blobCopied(Descriptor)
    /// A manifest was written (with its tag, for the root).
    case manifestPushed(Descriptor, tag: String?)
    /// The destination already had the manifest and no tag was to be set.
    case manifestSkipped(Descriptor)
    /// The copy is complete.
    case finished(CopyResult)
}

/// What one copy did.
public struct CopyResult: Sendable {
    /// The root manifest or index that was copied (after platform selection).
    public var root: Descriptor
    public var kind: ArtifactKind
    /// The tag the destination now has, if any.
    public var tag: String?
    /// Every artifact the copy tagged (or stored untagged), in request order.
    public var tagged: [(tag: String?, descriptor: Descriptor)] = []
    public var manifests = 0
    public var blobsCopied = 0
    public var blobsSkipped = 0
    public var bytesCopied: Int64 = 0
    public var bytesSkipped: Int64 = 0
    public var seconds: Double = 0
}

/// What happened to one blob.
enum BlobOutcome: Sendable {
    case skipped(Int64)
    case copied(Int64)
}

extension CopyResult {
    mutating func tally(_ outcome: BlobOutcome) {
        switch outcome {
        case .skipped(let size):
            blobsSkipped += 1
            bytesSkipped += size
        case .copied(let size):
            blobsCopied += 1
            bytesCopied += size
        }
    }
}
