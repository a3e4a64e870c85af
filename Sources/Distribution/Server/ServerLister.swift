import FerryCore
import Foundation
import HTTPTypes
import Hummingbird
import OCI

/// `_catalog`, `tags/list` and the referrers API.
extension RegistryServer {
    /// `GET /v2/_catalog?n=&last=`.
    func catalog(_ request: Request) async throws -> Response {
        // A layout or bucket not made yet is an empty registry, not a missing one.
        let names: [String]
        do {
            names = try await store.repositories().map(apiName).sorted()
        } catch let error as StorageError where error.code == .nameUnknown {
            names = []
        }
        let (page, link) = try paginate(names, request, path: "/v2/_catalog")
        return jsonResponse(.ok, ["repositories": page], headers: link)
    }

    /// `GET /v2/<name>/tags/list?n=&last=`.
    func tags(_ name: String, _ request: Request) async throws -> Response {
        let tags = try await store.tags(in: repository(name)).sorted()
        if tags.isEmpty, !(try await store.repositories().contains(repository(name))) {
            throw RegistryFailure(.notFound, .nameUnknown, "no repository \(name)")
        }
        let (page, link) = try paginate(tags, request, path: "/v2/\(name)/tags/list")
        return jsonResponse(.ok, ["name": name, "tags": page], headers: link)
    }

    /// `GET /v2/<name>/referrers/<digest>?artifactType=`: an image index of the manifests whose
    /// subject is `digest` (empty when there are none, even for an unknown digest).
    func referrers(_ name: String, _ digestText: String, _ request: Request) async throws -> Response {
        guard let digest = try? Digest(parsing: digestText) else { throw RegistryFailure.digestInvalid(digestText) }
        var found = try await ReferrerFinder(store).referrers(of: digest, in: repository(name))
        var headers: HTTPFields = [:]
        if let type = request.uri.queryParameters["artifactType"].map(String.init) {
            found = found.filter { $0.artifactType == type }
            headers[.ociFiltersApplied] = "artifactType"
        }
        let manifests = try found.sorted { $0.digest.description < $1.digest.description }.map { descriptor in
            try JSONSerialization.jsonObject(with: JSONEncoder().encode(descriptor))
        }
        return jsonResponse(.ok, ["schemaVersion": 2, "mediaType": MediaType.imageIndex, "manifests": manifests],
                            contentType: MediaType.imageIndex, headers: headers)
    }

    /// The page of sorted `items` that `n` and `last` ask for, and the `Link` to the next one.
    private func paginate(_ items: [String], _ request: Request, path: String) throws -> ([String], HTTPFields) {
        let query = request.uri.queryParameters
        var rest = items[...]
        if let last = query["last"].map(String.init) { rest = rest.drop { $0 <= last } }
        guard let countText = query["n"].map(String.init) else { return (Array(rest), [:]) }
        guard let count = Int(countText), count >= 0 else {
            throw RegistryFailure(.badRequest, .unsupported, "n must be a count, not '\(countText)'")
        }
        let page = Array(rest.prefix(count))
        guard rest.count > count, let lastShown = page.last else { return (page, [:]) }
        let escaped = lastShown.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(["&", "=", "+"])) ?? lastShown
        return (page, [.link: "<\(path)?n=\(count)&last=\(escaped)>; rel=\"next\""])
    }
}
