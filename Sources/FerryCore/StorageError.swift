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

    /// An error; control characters in `message` (a server's or a file's words often end up
    /// there) are shown escaped, never sent to the terminal as they are.
    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message.printable
    }

    public var description: String { message }

    /// The same error, its message starting with the location's name (`oci:/srv/layout: …`).
    public func within(_ location: String) -> StorageError {
        message.hasPrefix(location) ? self : StorageError(code, "\(location): \(message)")
    }
}

/// Runs `body`; a `StorageError` it throws comes out naming `location` first.
public func naming<T>(_ location: String, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as StorageError {
        throw error.within(location)
    }
}

/// The same, for a body that does not suspend.
public func naming<T>(_ location: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as StorageError {
        throw error.within(location)
    }
}

extension String {
    /// The text with every control character (C0, DEL, C1) and bidirectional override written
    /// as `\u{1B}`: safe to print on a terminal whatever a server or a file put in it.
    public var printable: String {
        guard unicodeScalars.contains(where: Self.isUnsafe) else { return self }
        var result = ""
        for scalar in unicodeScalars {
            if Self.isUnsafe(scalar) {
                result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    private static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || (0x202A...0x202E).contains(scalar.value)
            || (0x2066...0x2069).contains(scalar.value)
    }
}
