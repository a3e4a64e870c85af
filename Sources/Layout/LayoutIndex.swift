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
            throw ValidationError("index.json", LayoutIndex.reason(error))
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
    func entries(matching tag: String, repository: String) -> [Descriptor] {
        let full: String? = tag.contains(":") ? tag : (repository.isEmpty ? nil : "\(repository):\(tag)")
        let tagPart = full.flatMap { Names.splitTag($0)?.tag } ?? tag
        let exact = distinct(manifests.filter { LayoutIndex.names(of: $0).contains(full ?? tag) })
        if !exact.isEmpty { return exact }
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

    private static func reason(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let context):
            if let underlying = context.underlyingError as? ValidationError { return underlying.description }
            return context.codingPath.isEmpty ? "not valid JSON" : "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        case .keyNotFound(let key, _): return "missing '\(key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "wrong type at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        @unknown default: return "\(error)"
        }
    }
}
