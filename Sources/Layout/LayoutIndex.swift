import FerryCore
import Foundation
import OCI

/// The `index.json` of a layout, and the tolerant matching of tags against its entries.
struct LayoutIndex {
    var schemaVersion = 2
    var mediaType: String? = MediaType.imageIndex
    var manifests: [Descriptor] = []
    var annotations: [String: String]?

    init() {}

    init(bytes: [UInt8]) throws {
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw ValidationError("index.json", ValidationError.reason(error))
        }
        guard document.schemaVersion == 2 else {
            throw ValidationError("index.json", "schemaVersion \(document.schemaVersion) is not 2")
        }
        schemaVersion = document.schemaVersion
        mediaType = document.mediaType
        manifests = document.manifests ?? []
        annotations = document.annotations
    }

    /// The JSON bytes to write.
    func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(Document(schemaVersion: schemaVersion, mediaType: mediaType, manifests: manifests, annotations: annotations)))
    }

    private struct Document: Codable {
        var schemaVersion: Int
        var mediaType: String?
        var manifests: [Descriptor]?
        var annotations: [String: String]?
    }

    /// The names an entry is known by: its `ref.name` and containerd's image name.
    static func names(of entry: Descriptor) -> [String] {
        [entry.annotations?[AnnotationKey.refName], entry.annotations?[AnnotationKey.containerdImageName]].compactMap { $0 }
    }

    /// The entries a tag means. First exact matches of the name as written (qualified with
    /// `repository` when given); when there are none, tolerant ones: a bare tag matches any
    /// `*:TAG`, and a full reference matches the bare tag. Entries are distinct by digest.
    func entries(matching tag: String, repository: String, strict: Bool = false) -> [Descriptor] {
        let full: String? = tag.contains(":") ? tag : (repository.isEmpty ? nil : "\(repository):\(tag)")
        let tagPart = full.flatMap { Names.splitTag($0)?.tag } ?? tag
        let exact = distinct(manifests.filter { LayoutIndex.names(of: $0).contains(full ?? tag) })
        if !exact.isEmpty || strict { return exact }
        return distinct(manifests.filter { entry in
            LayoutIndex.names(of: entry).contains { name in
                if name == tagPart { return true }
                guard full == nil, let split = Names.splitTag(name) else { return false }
                return split.tag == tagPart
            }
        })
    }

    private func distinct(_ entries: [Descriptor]) -> [Descriptor] {
        var seen = Set<Digest>()
        return entries.filter { seen.insert($0.digest).inserted }
    }
}

/// What both layout backends (directory and tarball) answer from `index.json`.
extension LayoutIndex {
    /// Resolves a selector; `lookup` finds a manifest by digest that `index.json` does not list.
    func resolve(
        _ selector: ManifestSelector?, in repository: String, displayName: String, strict: Bool = false, lookup: (Digest) throws -> Descriptor?
    ) throws -> Descriptor {
        switch selector {
        case .digest(let digest):
            if let entry = manifests.first(where: { $0.digest == digest }) { return entry }
            guard let found = try lookup(digest) else {
                throw StorageError(.manifestUnknown, "\(displayName): no manifest \(digest)")
            }
            return found
        case .tag(let tag):
            let matches = entries(matching: tag, repository: repository, strict: strict)
            guard matches.count <= 1 else {
                let list = matches.map { "\(LayoutIndex.names(of: $0).first ?? "?") (\($0.digest))" }.joined(separator: ", ")
                throw StorageError(.manifestUnknown, "\(displayName): tag '\(tag)' matches \(matches.count) manifests: \(list); write the full name")
            }
            guard let match = matches.first else {
                throw StorageError(.manifestUnknown, "\(displayName): no manifest tagged '\(tag)' (\(choices))")
            }
            return match
        case nil:
            guard manifests.count == 1, let only = manifests.first else {
                throw StorageError(.manifestUnknown, "\(displayName): \(choices); name one as TAG or @DIGEST")
            }
            return only
        }
    }

    /// "the layout holds 2 manifests: v1, v2", for messages.
    var choices: String {
        guard !manifests.isEmpty else { return "the layout holds no manifests" }
        let names = manifests.map { LayoutIndex.names(of: $0).first ?? "@\($0.digest)" }
        return "the layout holds \(names.count) manifest\(names.count == 1 ? "" : "s"): \(names.joined(separator: ", "))"
    }

    /// The repositories: the names of full references, and "" for bare or missing names.
    var repositories: [String] {
        Set(manifests.map { $0.refName.flatMap { Names.splitTag($0)?.repository } ?? "" }).sorted()
    }

    /// The tags of one repository ("" for bare tags).
    func tags(in repository: String) -> [String] {
        manifests.compactMap { entry -> String? in
            guard let name = entry.refName else { return nil }
            guard let split = Names.splitTag(name) else { return repository.isEmpty ? name : nil }
            return split.repository == repository ? split.tag : nil
        }
    }

    /// Every entry with the name it is known by.
    var roots: [(name: String, repository: String, descriptor: Descriptor)] {
        manifests.map { entry in
            (entry.refName ?? "@\(entry.digest)", entry.refName.flatMap { Names.splitTag($0)?.repository } ?? "", entry)
        }
    }

    /// Lists a pushed root: under `refName`, replacing what that name named, or untagged once.
    mutating func record(_ manifest: Manifest, refName: String?) {
        record([(manifest, refName)])
    }

    /// Lists pushed roots in order, as one `record` each would, in time linear in the index and
    /// the roots: the last root under a name wins, an untagged root is listed once.
    mutating func record(_ roots: [(manifest: Manifest, refName: String?)]) {
        var last: [String: Int] = [:]
        for (position, root) in roots.enumerated() {
            if let refName = root.refName { last[refName] = position }
        }
        if !last.isEmpty { manifests.removeAll { entry in entry.refName.map { last[$0] != nil } ?? false } }
        var listed = Set(manifests.map(\.digest))
        for (position, root) in roots.enumerated() {
            var entry = root.manifest.descriptor
            if let refName = root.refName {
                guard last[refName] == position else { continue }
                entry.annotations = [AnnotationKey.refName: refName]
            } else if listed.contains(root.manifest.digest) {
                continue
            }
            manifests.append(entry)
            listed.insert(entry.digest)
        }
    }

    /// The `ref.name` a tag is written under: a full reference is written as given; a bare tag
    /// stays bare, or is qualified with `repository` in the `full` style.
    static func refName(forTag tag: String, repository: String, style: RefNameStyle, displayName: String) throws -> String {
        if tag.contains(":") || tag.contains("/") || style == .bare { return tag }
        if style == .named, repository.isEmpty { return tag }
        guard !repository.isEmpty else {
            throw StorageError(.nameInvalid, "\(displayName): --ref-name=full needs a repository name (write the tag as NAME:TAG, e.g. example.com/app:\(tag))")
        }
        return "\(repository):\(tag)"
    }
}
