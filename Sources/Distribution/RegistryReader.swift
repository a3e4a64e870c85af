import FerryCore
import Foundation
import NIOHTTP1
import OCI

extension RegistryStore {
    /// Every manifest and index type Ferry reads, for `Accept`: the registry then answers with
    /// what it stores rather than converting it.
    static let accepted = [
        MediaType.imageIndex, MediaType.imageManifest, MediaType.dockerManifestList, MediaType.dockerManifest,
    ].joined(separator: ", ")

    /// The Docker schema 1 types, which Ferry refuses by name.
    static let schema1 = ["application/vnd.docker.distribution.manifest.v1+json", "application/vnd.docker.distribution.manifest.v1+prettyjws"]

    public func resolve(_ selector: ManifestSelector?, in repository: String) async throws -> Descriptor {
        let name = try self.name(repository)
        let reference = selector?.description ?? "latest"
        let request = RegistryTransport.Request(method: .HEAD, path: path(name, "manifests", reference),
                                                headers: [("Accept", Self.accepted)], scope: .pull(name),
                                                operation: "\(at(name, reference)): resolve")
        let head = try await transport.send(request)
        if head.status == .notFound {
            throw StorageError(.manifestUnknown, "\(at(name, reference)): no such manifest")
        }
        if head.status == .ok, let type = head.headers.first(name: "Content-Type"), let digestText = head.headers.first(name: "Docker-Content-Digest"),
           let digest = try? Digest(parsing: digestText), let size = head.headers.first(name: "Content-Length").flatMap(Int64.init) {
            try refuseSchema1(type, name: name, reference: reference)
            if MediaType.isManifestOrIndex(type) { return Descriptor(mediaType: type, digest: digest, size: size) }
        }
        // No usable HEAD (some registries answer HEAD without the digest): GET and hash.
        let bytes = try await getManifest(name: name, reference: reference)
        let manifest: Manifest
        do {
            manifest = try Manifest(bytes: bytes.bytes, declaredType: bytes.type)
        } catch let error as ValidationError {
            throw StorageError(.manifestInvalid, "\(at(name, reference)): \(error.problem)")
        }
        manifestsRead.withLock { $0[manifest.digest] = bytes.bytes }
        return manifest.descriptor
    }

    private func refuseSchema1(_ type: String, name: String, reference: String) throws {
        if Self.schema1.contains(type.split(separator: ";").first.map(String.init) ?? type) {
            throw StorageError(.manifestInvalid, "\(at(name, reference)): a Docker schema 1 manifest, which Ferry does not read (push it again with a current client)")
        }
    }

    /// GETs a manifest: its bytes, checked against `Docker-Content-Digest` when the registry
    /// sends one, and its type.
    func getManifest(name: String, reference: String) async throws -> (bytes: [UInt8], type: String) {
        let response = try await transport.send(RegistryTransport.Request(
            method: .GET, path: path(name, "manifests", reference), headers: [("Accept", Self.accepted)], scope: .pull(name),
            operation: "\(at(name, reference)): get manifest"))
        guard response.status == .ok else {
            let body = (try? await response.collect(upTo: 64 << 10)) ?? []
            if response.status == .notFound { throw StorageError(.manifestUnknown, "\(at(name, reference)): no such manifest") }
            throw RegistryErrors.failure(status: response.status, body: body, operation: "\(at(name, reference)): get manifest")
        }
        let type = response.headers.first(name: "Content-Type") ?? ""
        try refuseSchema1(type, name: name, reference: reference)
        let bytes = try await response.collect(upTo: Manifest.maximumSize)
        if let claimed = response.headers.first(name: "Docker-Content-Digest"), let digest = try? Digest(parsing: claimed),
           Digest.compute(bytes, algorithm: digest.algorithm) != digest {
            throw StorageError(.digestInvalid, "\(at(name, reference)): the manifest's bytes do not hash to the Docker-Content-Digest the registry sent (\(digest))")
        }
        return (bytes, type.split(separator: ";").first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? type)
    }

    public func fetch(_ descriptor: Descriptor, in repository: String) async throws -> ByteStream {
        let name = try self.name(repository)
        if descriptor.isManifest {
            if let bytes = manifestsRead.withLock({ $0.removeValue(forKey: descriptor.digest) }) { return .bytes(bytes) }
            return .bytes(try await getManifest(name: name, reference: descriptor.digest.description).bytes)
        }
        transport.known.withLock { $0[descriptor.digest] = name }
        return BlobDownload(store: self, name: name, descriptor: descriptor).stream()
    }

    public func blobExists(_ digest: Digest, in repository: String) async throws -> Bool {
        let name = try self.name(repository)
        let response = try await transport.send(RegistryTransport.Request(
            method: .HEAD, path: path(name, "blobs", digest.description), scope: .pull(name), followRedirects: false,
            operation: "\(at(name)): check blob \(digest)"))
        await response.discard()
        switch response.status.code {
        case 200, 307, 302: return true
        case 404: return false
        default: throw RegistryErrors.failure(status: response.status, body: [], operation: "\(at(name)): check blob \(digest)")
        }
    }

    /// HEAD of the blob, following a redirect to where the registry keeps it.
    public func blobSize(_ digest: Digest, in repository: String) async throws -> Int64? {
        let name = try self.name(repository)
        let operation = "\(at(name)): check blob \(digest)"
        let response = try await transport.send(RegistryTransport.Request(
            method: .HEAD, path: path(name, "blobs", digest.description), scope: .pull(name), operation: operation))
        await response.discard()
        switch response.status.code {
        case 200:
            guard let size = response.headers.first(name: "Content-Length").flatMap(Int64.init), size >= 0 else {
                throw StorageError(.unknown, "\(operation): the registry sent no Content-Length")
            }
            return size
        case 404: return nil
        default: throw RegistryErrors.failure(status: response.status, body: [], operation: operation)
        }
    }

    public func manifestExists(_ digest: Digest, in repository: String) async throws -> Bool {
        let name = try self.name(repository)
        let response = try await transport.send(RegistryTransport.Request(
            method: .HEAD, path: path(name, "manifests", digest.description), headers: [("Accept", Self.accepted)], scope: .pull(name),
            operation: "\(at(name)): check manifest \(digest)"))
        await response.discard()
        switch response.status.code {
        case 200: return true
        case 404: return false
        default: throw RegistryErrors.failure(status: response.status, body: [], operation: "\(at(name)): check manifest \(digest)")
        }
    }
}

/// One blob coming down: redirects followed without credentials, and a body cut off in the
/// middle continued with `Range` from the byte it stopped at, up to the transport's attempts.
struct BlobDownload: Sendable {
    let store: RegistryStore
    let name: String
    let descriptor: Descriptor

    func stream() -> ByteStream {
        // Opened at the first read: a blob the destination mounts instead is never downloaded.
        let state = DownloadState()
        return ByteStream {
            if state.body == nil { state.body = try await open(from: 0) }
            // The network hands over small buffers; the engine gets chunks of about 1 MiB.
            var gathered: [UInt8] = []
            while true {
                do {
                    guard let chunk = try await state.body?.next() else {
                        guard state.received >= descriptor.size else {
                            throw StorageError(.sizeInvalid, "\(store.at(name)): blob \(descriptor.digest) ended after \(state.received) of \(descriptor.size) bytes")
                        }
                        return gathered.isEmpty ? nil : gathered
                    }
                    state.received += Int64(chunk.count)
                    gathered += chunk
                    if gathered.count >= ByteStream.chunkSize { return gathered }
                } catch let error as StorageError {
                    throw error
                } catch {
                    state.resumes += 1
                    guard state.resumes < store.transport.attempts, state.received < descriptor.size else { throw error }
                    state.body = try await open(from: state.received)
                }
            }
        }
    }

    /// The body from `offset` on: a 206 for a range, or a 200 whose first `offset` bytes are
    /// skipped when the server ignores ranges.
    private func open(from offset: Int64) async throws -> ByteStreamIterator {
        var headers: [(String, String)] = []
        if offset > 0 { headers.append(("Range", "bytes=\(offset)-")) }
        let response = try await store.transport.send(RegistryTransport.Request(
            method: .GET, path: store.path(name, "blobs", descriptor.digest.description), headers: headers, scope: .pull(name),
            deadline: .seconds(300), operation: "\(store.at(name)): get blob \(descriptor.digest)"))
        switch response.status.code {
        case 206 where offset > 0, 200:
            var iterator = ByteStreamIterator(response.body.byteStream())
            if response.status.code == 200, offset > 0 { try await iterator.skip(offset) }
            return iterator
        case 404:
            await response.discard()
            throw StorageError(.blobUnknown, "\(store.at(name)): no blob \(descriptor.digest)")
        default:
            let body = (try? await response.collect(upTo: 64 << 10)) ?? []
            throw RegistryErrors.failure(status: response.status, body: body, operation: "\(store.at(name)): get blob \(descriptor.digest)")
        }
    }
}

/// Where one download stands; read by one task at a time.
private final class DownloadState: @unchecked Sendable {
    var body: ByteStreamIterator?
    var received: Int64 = 0
    var resumes = 0
}

/// An iterator over a byte stream that can drop a prefix.
struct ByteStreamIterator: @unchecked Sendable {
    private var iterator: ByteStream.AsyncIterator
    private var pending: [UInt8] = []

    init(_ stream: ByteStream) { iterator = stream.makeAsyncIterator() }

    mutating func next() async throws -> [UInt8]? {
        if !pending.isEmpty {
            defer { pending = [] }
            return pending
        }
        return try await iterator.next()
    }

    /// Makes `bytes` the next chunk returned.
    mutating func pushBack(_ bytes: [UInt8]) {
        pending = bytes + pending
    }

    mutating func skip(_ count: Int64) async throws {
        var left = count
        while left > 0, let chunk = try await iterator.next() {
            if Int64(chunk.count) > left {
                pending = Array(chunk[Int(left)...])
                return
            }
            left -= Int64(chunk.count)
        }
    }
}
