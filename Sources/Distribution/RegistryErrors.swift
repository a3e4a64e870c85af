import FerryCore
import Foundation
import NIOHTTP1

/// A registry's error body, `{"errors":[{"code":"…","message":"…"}]}`, as one line and an
/// error code Ferry knows.
enum RegistryErrors {
    /// `CODE: message` of the first error in the body, or nil when it is not the spec's JSON.
    static func describe(_ body: [UInt8]) -> String? {
        guard let (code, message) = first(body) else { return nil }
        return message.isEmpty ? code : "\(code): \(message)"
    }

    static func first(_ body: [UInt8]) -> (code: String, message: String)? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let errors = object["errors"] as? [[String: Any]], let error = errors.first
        else { return nil }
        let code = (error["code"] as? String) ?? "UNKNOWN"
        let message = (error["message"] as? String) ?? ""
        return (String(code.prefix(64)), String(message.prefix(300)))
    }

    /// The error for a response that was not what `operation` needed: the registry's own code
    /// and message when it sent them, else the HTTP status.
    static func failure(status: HTTPResponseStatus, body: [UInt8], operation: String) -> StorageError {
        if let (code, message) = first(body) {
            let known = ErrorCode(rawValue: code) ?? fallback(status)
            return StorageError(known, "\(operation): \(code)\(message.isEmpty ? "" : ": \(message)")")
        }
        return StorageError(fallback(status), "\(operation): HTTP \(status.code) \(status.reasonPhrase)")
    }

    private static func fallback(_ status: HTTPResponseStatus) -> ErrorCode {
        switch status.code {
        case 401: .unauthorized
        case 403: .denied
        case 404: .nameUnknown
        case 405: .unsupported
        case 429: .tooManyRequests
        default: .unknown
        }
    }
}
