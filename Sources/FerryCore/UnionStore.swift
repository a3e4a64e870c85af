import OCI

/// Several places seen as one (`ferry serve A B …`): reads come from the first that has the
/// content, writes go to the first. A manifest pushed to the first that names blobs another
/// member holds gets them copied into the first, so what the first stores is complete.
public final class UnionStore: Storage {
    public let members: [any Storage]

    /// `members` in order of precedence; the first takes the writes.
    public init(_ members: [any Storage]) {
        precondition(!members.isEmpty, "a union of nothing")
        self.members = members
    }

    public var displayName: String { members.map(\.displayName).joined(separator: " + ") }
    private var first: any Storage { members[0] }

    /// Whether an error only says "not here", so that the next member is asked.
    private static func isAbsence(_ error: any Error) -> Bool {
        guard let error = error as? StorageError else { return false }
        return [.manifestUnknown, .blobUnknown, .nameUnknown].contains(error.code)
    }

    /// The first answer of the members, in order, skipping those that do not have it.
    private func firstAnswer<T>(_ body: (any Storage) async throws -> T) async throws -> T {
        var last: (any Error)?
        for member in members {
            do { return try await body(member) } catch where Self.isAbsence(error) { last = error }
        }
        throw last!
    }

    /// The member that holds `descriptor`.
    private func holder(of descriptor: Descriptor, in repository: String) async throws -> any Storage {
        for member in members {
            let has = descriptor.isManifest
                ? try await member.manifestExists(descriptor.digest, in: repository)
                : try await member.blobExists(descriptor.digest, in: repository)
            if has { return member }
        }
        throw StorageError(descriptor.isManifest ? .manifestUnknown : .blobUnknown, "\(displayName): no \(descriptor.digest)")
    }

    public func resolve(_ selector: ManifestSelector?, in repository: String) async throws -> Descriptor {
        try await firstAnswer { try await $0.resolve(selector, in: repository) }
    }

    public func fetch(_ descriptor: Descriptor, in repository: String) async throws -> ByteStream {
        // A manifest resolved by tag is read where the tag was found.
        if descriptor.isManifest {
            return try await firstAnswer { member in
                guard try await member.manifestExists(descriptor.digest, in: repository) else {
                    throw StorageError(.manifestUnknown, "\(member.displayName): no \(descriptor.digest)")
                }
                return try await member.fetch(descriptor, in: repository)
            }
        }
        return try await holder(of: descriptor, in: repository).fetch(descriptor, in: repository)
    }

    public func fetch(_ descriptor: Descriptor, range: Range<Int64>, in repository: String) async throws -> ByteStream {
        try await holder(of: descriptor, in: repository).fetch(descriptor, range: range, in: repository)
    }

    public func blobSize(_ digest: Digest, in repository: String) async throws -> Int64? {
        for member in members {
            if let size = try await member.blobSize(digest, in: repository) { return size }
        }
        return nil
    }

    public func blobExists(_ digest: Digest, in repository: String) async throws -> Bool {
        for member in members where try await member.blobExists(digest, in: repository) { return true }
        return false
    }

    public func manifestExists(_ digest: Digest, in repository: String) async throws -> Bool {
        for member in members where try await member.manifestExists(digest, in: repository) { return true }
        return false
    }

    public func pushBlob(_ descriptor: Descriptor, from stream: ByteStream, in repository: String) async throws {
        try await first.pushBlob(descriptor, from: stream, in: repository)
    }

    /// Brings into the first member what the manifest names and only another member holds,
    /// then stores the manifest there.
    public func pushManifest(_ manifest: Manifest, as target: ManifestTarget, in repository: String) async throws {
        for blob in manifest.blobs where !(try await first.blobExists(blob.digest, in: repository)) {
            for member in members.dropFirst() where try await member.blobExists(blob.digest, in: repository) {
                try await first.pushBlob(blob, from: try await member.fetch(blob, in: repository), in: repository)
                break
            }
        }
        for child in manifest.manifests where !(try await first.manifestExists(child.digest, in: repository)) {
            for member in members.dropFirst() where try await member.manifestExists(child.digest, in: repository) {
                try await pushManifest(try await member.fetchManifest(child, in: repository), as: .child, in: repository)
                break
            }
        }
        try await first.pushManifest(manifest, as: target, in: repository)
    }

    public func repositories() async throws -> [String] {
        var all = Set<String>()
        for member in members { all.formUnion(try await member.repositories()) }
        return all.sorted()
    }

    public func tags(in repository: String) async throws -> [String] {
        var all = Set<String>()
        for member in members {
            do { all.formUnion(try await member.tags(in: repository)) } catch where Self.isAbsence(error) {}
        }
        return all.sorted()
    }

    public func deleteTag(_ tag: String, in repository: String) async throws { try await first.deleteTag(tag, in: repository) }
    public func deleteManifest(_ digest: Digest, in repository: String) async throws { try await first.deleteManifest(digest, in: repository) }
    public func deleteBlob(_ digest: Digest, in repository: String) async throws { try await first.deleteBlob(digest, in: repository) }

    public var wantsSequentialBlobs: Bool { first.wantsSequentialBlobs }
    public func willCopy(_ plan: CopyPlan) async throws { try await first.willCopy(plan) }
    public func commit() async throws { try await first.commit() }
    public func abort() async { await first.abort() }
}
