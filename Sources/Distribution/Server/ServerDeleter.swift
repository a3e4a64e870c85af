import FerryCore
import HTTPTypes
import Hummingbird
import OCI

/// `DELETE` of manifests, tags and blobs, where the location allows it.
extension RegistryServer {
    /// `DELETE /v2/<name>/manifests/<digest or tag>`: a digest removes the manifest and its
    /// tags, a tag only the tag.
    func deleteManifest(_ name: String, _ reference: String) async throws -> Response {
        let repository = repository(name)
        switch try Self.selector(reference) {
        case .digest(let digest):
            guard try await store.manifestExists(digest, in: repository) else {
                throw RegistryFailure(.notFound, .manifestUnknown, "no manifest \(digest) in \(name)")
            }
            try await store.deleteManifest(digest, in: repository)
        case .tag(let tag):
            try await store.deleteTag(tag, in: repository)
        }
        return Response(status: .accepted, headers: [.contentLength: "0"])
    }

    /// `DELETE /v2/<name>/blobs/<digest>`.
    func deleteBlob(_ name: String, _ digestText: String) async throws -> Response {
        let repository = repository(name)
        guard let digest = try? Digest(parsing: digestText) else { throw RegistryFailure.digestInvalid(digestText) }
        guard try await store.blobExists(digest, in: repository) else {
            throw RegistryFailure(.notFound, .blobUnknown, "no blob \(digest) in \(name)")
        }
        try await store.deleteBlob(digest, in: repository)
        return Response(status: .accepted, headers: [.contentLength: "0"])
    }
}
