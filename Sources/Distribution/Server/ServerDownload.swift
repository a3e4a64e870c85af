import FerryCore
import Foundation
import HTTPTypes
import Hummingbird
import OCI

/// What `GET /dl/<name>` makes of an artifact: the file a user takes away (a snapshot as a
/// cocoon import tarball, a cloud image as its disk). That is format knowledge, so the server
/// is handed it rather than knowing it.
public protocol Downloads: Sendable {
    /// Writes the artifact `manifest` of `repository` in `store` to a new file `directory/file`,
    /// named for the user as `name`, and returns its content type; fails `UNSUPPORTED` for a kind
    /// that has no download.
    func write(_ manifest: Manifest, of store: any Storage, repository: String, name: String, to directory: ContainedDirectory, file: String) async throws -> String
}

extension RegistryServer {
    /// Epoch's `GET /dl/<name>`: the artifact tagged `latest`, made into a file in the spool,
    /// then sent and removed.
    func download(_ name: String, downloads: any Downloads) async throws -> Response {
        guard Names.isValidRepository(name) else { throw RegistryFailure(.notFound, .nameInvalid, "not a repository name") }
        let repository = repository(name)
        let manifest = try await store.resolveManifest(.tag("latest"), in: repository)
        let workspace = try TemporaryWorkspace(in: uploads.spool, label: "dl")
        let directory = workspace.inside
        @Sendable func remove() { workspace.remove() }
        let type: String
        let size: Int64
        do {
            type = try await downloads.write(manifest, of: store, repository: repository, name: name, to: directory, file: "download")
            size = try directory.regularFileSize("download") ?? 0
        } catch {
            remove()
            throw error
        }
        let (fd, _) = try directory.openForReading("download")
        let stream = try ByteStream.file(fd, path: directory.path(of: "download"))
        return Response(status: .ok, headers: [.contentType: type, .contentLength: "\(size)"], body: ResponseBody(contentLength: Int(size)) { writer in
            defer { remove() }
            for try await chunk in stream { try await writer.write(ByteBuffer(bytes: chunk)) }
            try await writer.finish(nil)
        })
    }
}
