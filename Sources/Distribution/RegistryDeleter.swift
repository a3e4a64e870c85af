import FerryCore
import OCI

extension RegistryStore {
    /// `DELETE /v2/NAME/manifests/TAG` (OCI 1.1); registries that cannot delete a tag alone say
    /// so with `UNSUPPORTED`.
    public func deleteTag(_ tag: String, in repository: String) async throws {
        do {
            try await delete("manifests", tag, in: repository, what: "tag \(tag)")
        } catch let error as StorageError where error.code == .digestInvalid {
            // Registries before OCI 1.1 (the CNCF registry 2.x) delete manifests by digest only.
            throw StorageError(.unsupported, "\(at(try self.name(repository))): delete tag \(tag): the registry deletes manifests by digest only, not a tag alone")
        }
    }

    public func deleteManifest(_ digest: Digest, in repository: String) async throws {
        try await delete("manifests", digest.description, in: repository, what: "manifest \(digest)")
    }

    public func deleteBlob(_ digest: Digest, in repository: String) async throws {
        try await delete("blobs", digest.description, in: repository, what: "blob \(digest)")
    }

    private func delete(_ kind: String, _ reference: String, in repository: String, what: String) async throws {
        let name = try self.name(repository)
        let response = try await transport.send(RegistryTransport.Request(
            method: .DELETE, path: path(name, kind, reference), scope: .delete(name), operation: "\(at(name)): delete \(what)"))
        let body = (try? await response.collect(upTo: 64 << 10)) ?? []
        switch response.status.code {
        case 200, 202, 204: return
        case 404: throw StorageError(kind == "blobs" ? .blobUnknown : .manifestUnknown, "\(at(name)): delete \(what): not found")
        case 405: throw StorageError(.unsupported, "\(at(name)): delete \(what): the registry does not allow deletes")
        default: throw RegistryErrors.failure(status: response.status, body: body, operation: "\(at(name)): delete \(what)")
        }
    }
}
