import FerryCore
import Foundation
import HTTPTypes
import Hummingbird
import OCI

/// Uploads (monolithic, chunked, mounted) and manifest pushes. A blob becomes visible only
/// through the location's own `pushBlob`, which verifies it; a manifest only through
/// `pushManifest`, which stores it when everything it names is there.
extension RegistryServer {
    /// `POST /v2/<name>/blobs/uploads/`: a mount (`?mount=&from=`), a monolithic upload
    /// (`?digest=`), or a new session.
    func startUpload(_ name: String, _ request: inout Request, counter: ByteCounter) async throws -> Response {
        let repository = repository(name)
        let query = request.uri.queryParameters
        if let mounted = query["mount"].map(String.init) {
            guard let digest = try? Digest(parsing: mounted) else { throw RegistryFailure.digestInvalid(mounted) }
            if try await mount(digest, from: query["from"].map(String.init), into: repository) {
                return created(name, digest)
            }
        } else if let digestText = query["digest"].map(String.init) {
            guard let digest = try? Digest(parsing: digestText) else { throw RegistryFailure.digestInvalid(digestText) }
            return try await wholeUpload(name, digest, request.body, counter: counter)
        }
        let session = try await newSession(repository)
        await uploads.release(session)
        return Response(status: .accepted, headers: sessionHeaders(name, session))
    }

    /// Epoch's shortcut `PUT /v2/<name>/blobs/<digest>`: the whole blob in one request, spooled
    /// and verified like any upload.
    func putWholeBlob(_ name: String, _ digestText: String, _ request: inout Request, counter: ByteCounter) async throws -> Response {
        try await wholeUpload(name, try blobDigest(digestText), request.body, counter: counter)
    }

    /// A blob in one request body: spooled in a session of its own, verified, stored.
    private func wholeUpload(_ name: String, _ digest: Digest, _ body: RequestBody, counter: ByteCounter) async throws -> Response {
        let session = try await newSession(repository(name))
        do {
            try await append(body, to: session, counter: counter)
        } catch {
            await uploads.finish(session)
            throw error
        }
        try await storeAndEnd(session, as: digest)
        return created(name, digest)
    }

    /// `PATCH /v2/<name>/blobs/uploads/<id>`: appends a chunk; a `Content-Range` must start where
    /// the upload stands (416 otherwise).
    func patchUpload(_ name: String, _ id: String, _ request: inout Request, counter: ByteCounter) async throws -> Response {
        let session = try await uploads.take(id, repository: repository(name))
        try await appendChunk(request, to: session, name: name, counter: counter)
        await uploads.release(session)
        return Response(status: .accepted, headers: sessionHeaders(name, session))
    }

    /// `PUT /v2/<name>/blobs/uploads/<id>?digest=`: the last chunk, if any, then the blob is
    /// verified and stored; the session ends either way once the digest is checked.
    func finishUpload(_ name: String, _ id: String, _ request: inout Request, counter: ByteCounter) async throws -> Response {
        guard let digestText = request.uri.queryParameters["digest"].map(String.init) else {
            throw RegistryFailure(.badRequest, .digestInvalid, "the upload's digest is missing (?digest=)")
        }
        guard let digest = try? Digest(parsing: digestText) else { throw RegistryFailure.digestInvalid(digestText) }
        let session = try await uploads.take(id, repository: repository(name))
        try await appendChunk(request, to: session, name: name, counter: counter)
        try await storeAndEnd(session, as: digest)
        return created(name, digest)
    }

    /// `GET /v2/<name>/blobs/uploads/<id>`: where the upload stands.
    func uploadStatus(_ name: String, _ id: String) async throws -> Response {
        let session = try await uploads.take(id, repository: repository(name))
        await uploads.release(session, touched: false)
        return Response(status: .noContent, headers: sessionHeaders(name, session))
    }

    /// `DELETE /v2/<name>/blobs/uploads/<id>`: cancels the upload.
    func cancelUpload(_ name: String, _ id: String) async throws -> Response {
        let session = try await uploads.take(id, repository: repository(name))
        await uploads.finish(session)
        return Response(status: .noContent)
    }

    /// `PUT /v2/<name>/manifests/<reference>`.
    func putManifest(_ name: String, _ reference: String, _ request: inout Request, counter: ByteCounter) async throws -> Response {
        let repository = repository(name)
        let selector = try Self.selector(reference)
        var bytes: [UInt8] = []
        for try await buffer in request.body {
            guard bytes.count + buffer.readableBytes <= options.maximumManifestSize else {
                throw RegistryFailure(.contentTooLarge, .sizeInvalid, "a manifest may have \(options.maximumManifestSize) bytes at most")
            }
            bytes += buffer.readableBytesView
        }
        counter.add(bytes.count)
        let declared = request.headers[.contentType].map { String($0.split(separator: ";")[0]).trimmingCharacters(in: .whitespaces) }
        let manifest: Manifest
        do {
            var algorithm = Digest.Algorithm.sha256
            if case .digest(let digest) = selector { algorithm = digest.algorithm }
            manifest = try Manifest(bytes: bytes, declaredType: declared, digestAlgorithm: algorithm)
        } catch let error as ValidationError {
            throw RegistryFailure(.badRequest, .manifestInvalid, error.description)
        }
        let target: ManifestTarget
        switch selector {
        case .digest(let digest):
            guard digest == manifest.digest else {
                throw RegistryFailure(.badRequest, .digestInvalid, "the manifest's digest is \(manifest.digest), not \(digest)")
            }
            // A referrer stays listed (so the referrers API finds it); other manifests pushed by
            // digest are children of an index, or untagged, as in any registry.
            target = manifest.subject == nil ? .child : .root(tag: nil)
        case .tag(let tag):
            target = .root(tag: tag)
        }
        try await store.pushManifest(manifest, as: target, in: repository)
        try await store.commit()
        var headers: HTTPFields = [.location: "/v2/\(name)/manifests/\(manifest.digest)", .dockerContentDigest: manifest.digest.description]
        if let subject = manifest.subject { headers[.ociSubject] = subject.digest.description }
        return Response(status: .created, headers: headers)
    }

    // MARK: helpers

    /// A session whose parts go to the location when it holds uploads itself.
    private func newSession(_ repository: String) async throws -> UploadSessions.Session {
        let remote = try await (store as? any UploadSpooling)?.makeUploadSpool(in: repository)
        return try await uploads.create(repository: repository, remote: remote)
    }

    /// Stores a blob already in `repository`'s reach, or present in `from`, without an upload.
    private func mount(_ digest: Digest, from: String?, into repository: String) async throws -> Bool {
        if try await store.blobExists(digest, in: repository) { return true }
        guard let from, Names.isValidRepository(from) else { return false }
        let source = self.repository(from)
        guard let size = try await store.blobSize(digest, in: source) else { return false }
        let descriptor = Descriptor(mediaType: MediaType.octetStream, digest: digest, size: size)
        try await store.pushBlob(descriptor, from: try await store.fetch(descriptor, in: source), in: repository)
        try await store.commit()
        return true
    }

    /// Appends a request's chunk to a session it has taken; on failure the session is given back
    /// as it stands, so that the client can ask where it is and go on.
    private func appendChunk(_ request: Request, to session: UploadSessions.Session, name: String, counter: ByteCounter) async throws {
        do {
            try checkContentRange(request, session: session, name: name)
            try await append(request.body, to: session, counter: counter)
        } catch {
            await uploads.release(session)
            throw error
        }
    }

    /// Stores the spooled blob; the session ends either way.
    private func storeAndEnd(_ session: UploadSessions.Session, as digest: Digest) async throws {
        do {
            try await store(session, as: digest)
        } catch {
            await uploads.finish(session)
            throw error
        }
        await uploads.finish(session)
    }

    /// Appends a request body to the session's spool, in writes of up to 1 MiB; with a remote
    /// spool, in parts, the bytes short of a part left in a new file at the end. `size` counts
    /// only bytes kept, so a request that fails leaves the session where its last write left it.
    private func append(_ body: RequestBody, to session: UploadSessions.Session, counter: ByteCounter) async throws {
        let remote = session.remote
        let unit = remote?.partSize ?? 1 << 20
        var pending: [UInt8] = []
        pending.reserveCapacity(unit)
        // Bytes already counted in `size` that are in `pending` (a remote spool's tail, read back).
        var carried = 0
        if remote != nil, session.tail > 0 {
            pending = try await readSpool(session)
            carried = pending.count
        }
        func flush(_ atEnd: Bool) async throws {
            guard let remote else {
                guard !pending.isEmpty else { return }
                let bytes = pending
                try await BlockingIO.run { try session.file.write(bytes) }
                session.size += Int64(bytes.count)
                pending.removeAll(keepingCapacity: true)
                return
            }
            while pending.count >= unit {
                try await remote.append(part: Array(pending[..<unit]))
                pending.removeFirst(unit)
                // The tail read back is in this part: the file holding it is done with.
                session.size += Int64(unit - carried)
                if carried > 0 {
                    session.file.discard()
                    session.file = try uploads.newFile()
                    session.tail = 0
                    carried = 0
                }
            }
            guard atEnd, pending.count > carried else { return }
            let fresh = try uploads.newFile()
            let bytes = pending
            do {
                try await BlockingIO.run { try fresh.write(bytes) }
            } catch {
                fresh.discard()
                throw error
            }
            session.file.discard()
            session.file = fresh
            session.size += Int64(pending.count - carried)
            session.tail = pending.count
            carried = pending.count
        }
        for try await buffer in body {
            guard session.size - Int64(carried) + Int64(pending.count + buffer.readableBytes) <= options.maximumBlobSize else {
                throw RegistryFailure(.contentTooLarge, .sizeInvalid, "a blob may have \(options.maximumBlobSize) bytes at most")
            }
            counter.add(buffer.readableBytes)
            pending += buffer.readableBytesView
            if pending.count >= unit { try await flush(false) }
        }
        try await flush(true)
    }

    /// The bytes of a session's spool file.
    private func readSpool(_ session: UploadSessions.Session) async throws -> [UInt8] {
        let (fd, _) = try session.file.directory.openForReading(session.file.name)
        return try await ByteStream.file(fd, path: session.file.path).collect(upTo: Int.max, what: session.file.path.string)
    }

    /// Hands the spooled bytes to the location, which verifies them against `digest`.
    private func store(_ session: UploadSessions.Session, as digest: Digest) async throws {
        let descriptor = Descriptor(mediaType: MediaType.octetStream, digest: digest, size: session.size)
        if let remote = session.remote {
            try await remote.store(as: descriptor, last: try await readSpool(session))
        } else {
            let (fd, _) = try session.file.directory.openForReading(session.file.name)
            let stream = try ByteStream.file(fd, path: session.file.path)
            try await store.pushBlob(descriptor, from: stream, in: session.repository)
        }
        try await store.commit()
    }

    private func checkContentRange(_ request: Request, session: UploadSessions.Session, name: String) throws {
        guard let text = request.headers[.contentRange] else { return }
        let bounds = text.replacingOccurrences(of: "bytes ", with: "").split(separator: "/")[0].split(separator: "-")
        guard bounds.count == 2, let start = Int64(bounds[0]), let end = Int64(bounds[1]), end >= start - 1 else {
            throw RegistryFailure(.badRequest, .blobUploadInvalid, "Content-Range '\(text)' is not start-end")
        }
        guard start == session.size else {
            throw RegistryFailure(.rangeNotSatisfiable, .blobUploadInvalid, "the upload stands at \(session.size) bytes, the chunk starts at \(start)",
                                  headers: sessionHeaders(name, session))
        }
    }

    private func sessionHeaders(_ name: String, _ session: UploadSessions.Session) -> HTTPFields {
        [.location: "/v2/\(name)/blobs/uploads/\(session.id)", .dockerUploadUUID: session.id,
         .range: "0-\(max(session.size - 1, 0))", .contentLength: "0"]
    }

    private func created(_ name: String, _ digest: Digest) -> Response {
        Response(status: .created, headers: [.location: "/v2/\(name)/blobs/\(digest)", .dockerContentDigest: digest.description, .contentLength: "0"])
    }
}
