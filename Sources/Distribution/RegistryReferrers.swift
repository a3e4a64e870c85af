import FerryCore
import Foundation
import NIOCore
import OCI

extension RegistryStore: ReferrerListing {
    /// The referrers API (`GET /v2/NAME/referrers/DIGEST`); where the registry has none (404), the
    /// tag-schema fallback: the index tagged `sha256-HEX`.
    public func referrers(of digest: Digest, in repository: String) async throws -> [Descriptor] {
        let name = try self.name(repository)
        let response = try await transport.send(RegistryTransport.Request(
            method: .GET, path: path(name, "referrers", digest.description), headers: [("Accept", MediaType.imageIndex)],
            scope: .pull(name), operation: "\(at(name)): referrers of \(digest)"))
        if response.status == .ok, response.headers.first(name: "Content-Type")?.hasPrefix(MediaType.imageIndex) == true {
            return try Self.referrerList(try await response.collect(upTo: Manifest.maximumSize), what: "\(at(name)): referrers of \(digest)")
        }
        await response.discard()
        guard let fallback = try await fallbackIndex(for: digest, name: name) else { return [] }
        return fallback.manifests
    }

    /// The tag the fallback index of `digest`'s referrers has: `ALGORITHM-HEX`.
    static func fallbackTag(_ digest: Digest) -> String {
        digest.description.replacingOccurrences(of: ":", with: "-")
    }

    static func referrerList(_ bytes: [UInt8], what: String) throws -> [Descriptor] {
        do {
            return try Manifest(bytes: bytes, declaredType: MediaType.imageIndex).manifests
        } catch let error as ValidationError {
            throw StorageError(.manifestInvalid, "\(what): \(error.problem)")
        }
    }

    /// The fallback index of `digest`'s referrers, if the registry holds one.
    private func fallbackIndex(for digest: Digest, name: String) async throws -> Manifest? {
        do {
            let found = try await getManifest(name: name, reference: Self.fallbackTag(digest))
            return try Manifest(bytes: found.bytes, declaredType: found.type)
        } catch let error as StorageError where error.code == .manifestUnknown || error.code == .nameUnknown {
            return nil
        }
    }

    /// After a manifest with a `subject` went up to a registry that did not answer `OCI-Subject`
    /// (it has no referrers API), adds the manifest to the subject's fallback index, as the spec
    /// says: read it (or start one), add the descriptor if it is not there, and push it again.
    func updateFallbackIndex(for manifest: Manifest, subject: Descriptor, name: String) async throws {
        let existing = try await fallbackIndex(for: subject.digest, name: name)
        var entries = existing?.manifests ?? []
        guard !entries.contains(where: { $0.digest == manifest.digest }) else { return }
        entries.append(manifest.referrerDescriptor)
        let index = ImageIndex(manifests: entries)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let updated = try Manifest(bytes: Array(try encoder.encode(index)), declaredType: MediaType.imageIndex)
        let tag = Self.fallbackTag(subject.digest)
        let response = try await transport.expect([200, 201, 202], RegistryTransport.Request(
            method: .PUT, path: path(name, "manifests", tag),
            headers: [("Content-Type", MediaType.imageIndex), ("Content-Length", "\(updated.bytes.count)")],
            body: { .bytes(ByteBuffer(bytes: updated.bytes)) }, scope: .push(name)),
            operation: "\(at(name)): update the referrers of \(subject.digest) (tag \(tag))")
        await response.discard()
    }
}
