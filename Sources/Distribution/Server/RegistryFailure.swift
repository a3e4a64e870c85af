import FerryCore
import Foundation
import HTTPTypes
import Hummingbird

/// A request that fails with one of the spec's error codes: its status and its JSON body
/// (`{"errors":[{"code":…,"message":…}]}`). What a client sees never names the server's paths
/// or credentials: a storage error's message loses the location's name first.
struct RegistryFailure: Error, Sendable {
    let status: HTTPResponse.Status
    let code: ErrorCode
    let message: String
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ code: ErrorCode, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message.printable
        self.headers = headers
    }

    /// The failure a storage error stands for. `UNSUPPORTED` (a location that cannot do what
    /// was asked, such as deleting from an archive) is 405, as the spec answers such requests.
    /// A failure without a code of its own (an I/O error, say) says only that: its words, which
    /// may name the server's files, go to the access log instead.
    init(_ error: StorageError) {
        let status: HTTPResponse.Status = error.code == .unsupported ? .methodNotAllowed : .init(code: error.code.httpStatus)
        let message = error.code == .unknown ? "the server could not complete the request" : Self.withoutLocations(error.message)
        self.init(status, error.code, message)
    }

    /// A message without the names of the places it passed through (`oci:/srv/layout: `…).
    static func withoutLocations(_ message: String) -> String {
        message.replacing(#/(?:oci|oci-archive|epoch|cocoon|cocoon-archive|disk|docker):[^ ]*?: /#, with: "")
    }

    static func unsupported(_ message: String) -> RegistryFailure {
        RegistryFailure(.methodNotAllowed, .unsupported, message)
    }

    static func digestInvalid(_ text: String) -> RegistryFailure {
        RegistryFailure(.badRequest, .digestInvalid, "'\(text)' is not a digest")
    }

    var response: Response {
        let body: [String: Any] = ["errors": [["code": code.rawValue, "message": message, "detail": [String: String]()]]]
        let bytes = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

extension HTTPField.Name {
    static let dockerContentDigest = HTTPField.Name("Docker-Content-Digest")!
    static let dockerUploadUUID = HTTPField.Name("Docker-Upload-UUID")!
    static let dockerDistributionAPIVersion = HTTPField.Name("Docker-Distribution-API-Version")!
    static let ociSubject = HTTPField.Name("OCI-Subject")!
    static let ociFiltersApplied = HTTPField.Name("OCI-Filters-Applied")!
    static let link = HTTPField.Name("Link")!
}

/// A JSON response with the given status.
func jsonResponse(_ status: HTTPResponse.Status = .ok, _ object: Any, contentType: String = "application/json", headers: HTTPFields = [:]) -> Response {
    let bytes = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    var fields = headers
    fields[.contentType] = contentType
    return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
}
