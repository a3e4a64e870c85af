import Foundation
import OCI

/// `Manifest(bytes:declaredType:)`: a document that parses keeps its bytes and digest, is an
/// index exactly when its content is one, and its content survives encoding and decoding.
/// A first byte other than `{` or white space picks the declared media type; the rest is the
/// document.
enum ManifestHarness {
    static let declaredTypes: [String?] = [
        nil, MediaType.imageManifest, MediaType.imageIndex, MediaType.dockerManifest, MediaType.dockerManifestList,
        MediaType.imageConfig, "",
    ]

    static func run(_ bytes: [UInt8]) {
        var document = bytes
        var declared: String?
        if let first = bytes.first, ![UInt8(ascii: "{"), 0x20, 0x09, 0x0A, 0x0D].contains(first) {
            declared = declaredTypes[Int(first) % declaredTypes.count]
            document = Array(bytes.dropFirst())
        }
        guard let manifest = try? Manifest(bytes: document, declaredType: declared) else { return }
        require(manifest.bytes == document, "the bytes changed")
        require(manifest.digest == Digest.compute(document), "the digest is not of the bytes")
        require(manifest.descriptor.size == Int64(document.count), "the descriptor's size is not the byte count")
        _ = manifest.kind
        _ = manifest.referrerDescriptor
        _ = manifest.subject
        let encoder = JSONEncoder()
        switch manifest.content {
        case .image(let image):
            require(!manifest.isIndex && manifest.manifests.isEmpty, "an image manifest claims to be an index")
            require(manifest.mediaType == image.mediaType ?? manifest.mediaType && (image.mediaType != nil || MediaType.manifests.contains(manifest.mediaType)),
                "an image manifest without its own media type reads as \(manifest.mediaType)")
            require(manifest.blobs == [image.config] + image.layers, "blobs are not config and layers")
            for descriptor in manifest.blobs { checkDescriptor(descriptor) }
            guard let again = try? JSONDecoder().decode(ImageManifest.self, from: encoder.encode(image)) else {
                return require(false, "an image manifest does not decode after encoding")
            }
            require(again.config == image.config && again.layers == image.layers && again.subject == image.subject
                && again.annotations == image.annotations && again.mediaType == image.mediaType, "an image manifest changed in encoding")
        case .index(let index):
            require(manifest.isIndex && manifest.blobs.isEmpty, "an index claims to be an image manifest")
            require(manifest.mediaType == index.mediaType ?? manifest.mediaType && (index.mediaType != nil || MediaType.indexes.contains(manifest.mediaType)),
                "an index without its own media type reads as \(manifest.mediaType)")
            require(manifest.manifests == index.manifests, "manifests are not the index's")
            for descriptor in index.manifests { checkDescriptor(descriptor) }
            guard let again = try? JSONDecoder().decode(ImageIndex.self, from: encoder.encode(index)) else {
                return require(false, "an index does not decode after encoding")
            }
            require(again.manifests == index.manifests && again.subject == index.subject && again.annotations == index.annotations
                && again.mediaType == index.mediaType, "an index changed in encoding")
        }
    }

    private static func checkDescriptor(_ descriptor: Descriptor) {
        require((0...Descriptor.maximumSize).contains(descriptor.size), "descriptor size \(descriptor.size) out of range")
        require((try? Digest(parsing: descriptor.digest.description)) == descriptor.digest, "descriptor digest does not round-trip")
    }
}
