/// The error codes of the OCI distribution spec, plus `UNKNOWN` for failures it has no code for.
public enum ErrorCode: String, Sendable, Codable, CaseIterable {
    case blobUnknown = "BLOB_UNKNOWN"
    case blobUploadInvalid = "BLOB_UPLOAD_INVALID"
    case blobUploadUnknown = "BLOB_UPLOAD_UNKNOWN"
    case digestInvalid = "DIGEST_INVALID"
    case manifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
    case manifestInvalid = "MANIFEST_INVALID"
    case manifestUnknown = "MANIFEST_UNKNOWN"
    case nameInvalid = "NAME_INVALID"
    case nameUnknown = "NAME_UNKNOWN"
    case sizeInvalid = "SIZE_INVALID"
    case unauthorized = "UNAUTHORIZED"
    case denied = "DENIED"
    case unsupported = "UNSUPPORTED"
    case tooManyRequests = "TOOMANYREQUESTS"
    case unknown = "UNKNOWN"

    /// The HTTP status a registry answers with for this code.
    public var httpStatus: Int {
        switch self {
        case .blobUnknown, .blobUploadUnknown, .manifestUnknown, .nameUnknown: 404
        case .unauthorized: 401
        case .denied: 403
        case .unsupported: 415
        case .tooManyRequests: 429
        case .unknown: 500
        default: 400
        }
    }
}

/// A failure of a storage operation, carrying its distribution error code.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public let code: ErrorCode
    /// One line saying what went wrong, naming the content involved.
    public let message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
