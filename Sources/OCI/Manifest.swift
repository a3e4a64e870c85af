import Foundation

/// An image manifest (OCI or Docker schema 2): a config and layers.
public struct ImageManifest: Sendable, Codable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var artifactType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(
        mediaType: String? = MediaType.imageManifest, artifactType: String? = nil, config: Descriptor,
        layers: [Descriptor], annotations: [String: String]? = nil
    ) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.config = config
        self.layers = layers
        self.annotations = annotations
    }

    private enum CodingKeys: String, CodingKey {
        case schemaVersion, mediaType, artifactType, config, layers, subject, annotations
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try c.decode(Int.self, forKey: .schemaVersion)
        mediaType = try c.decodeIfPresent(String.self, forKey: .mediaType)
        artifactType = try c.decodeIfPresent(String.self, forKey: .artifactType)
        config = try c.decode(Descriptor.self, forKey: .config)
        layers = try c.decodeIfPresent([Descriptor].self, forKey: .layers) ?? []
        subject = try c.decodeIfPresent(Descriptor.self, forKey: .subject)
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
    }
}

/// An image index (OCI index or Docker manifest list): a list of manifests.
public struct ImageIndex: Sendable, Codable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var artifactType: String?
    public var manifests: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(mediaType: String? = MediaType.imageIndex, manifests: [Descriptor], annotations: [String: String]? = nil) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.manifests = manifests
        self.annotations = annotations
    }
}

/// A parsed manifest or index together with the exact bytes it came from. The digest is of
/// those bytes; a manifest is never re-serialised when it is copied.
public struct Manifest: Sendable {
    /// What the document describes.
    public enum Content: Sendable {
        case image(ImageManifest)
        case index(ImageIndex)
    }

    /// The exact bytes of the document.
    public let bytes: [UInt8]
    /// The digest of `bytes`.
    public let digest: Digest
    /// The media type: the document's own `mediaType`, else the one it was stored under,
    /// else inferred from its shape.
    public let mediaType: String
    public let content: Content
    /// epoch's classification of the document.
    public let kind: ArtifactKind

    /// The largest manifest Ferry accepts (epoch caps a manifest body at 50 MiB).
    public static let maximumSize = 50 << 20

    /// Parses `bytes`. `declaredType` is the media type the store or descriptor gave it.
    public init(bytes: [UInt8], declaredType: String? = nil, digestAlgorithm: Digest.Algorithm = .sha256) throws {
        guard bytes.count <= Manifest.maximumSize else {
            throw ValidationError("manifest", "is \(bytes.count) bytes, over the \(Manifest.maximumSize >> 20) MiB limit")
        }
        self.bytes = bytes
        self.digest = Digest.compute(bytes, algorithm: digestAlgorithm)
        let data = Data(bytes)
        let probe: Probe
        do {
            probe = try JSONDecoder().decode(Probe.self, from: data)
        } catch {
            throw ValidationError("manifest \(digest)", "is not valid JSON: \(ValidationError.reason(error))")
        }
        self.kind = ArtifactKind.classify(
            artifactType: probe.artifactType, mediaType: probe.mediaType, configMediaType: probe.config?.mediaType)
        let isIndex: Bool
        if let own = probe.mediaType, MediaType.indexes.contains(own) {
            isIndex = true
        } else if let own = probe.mediaType, MediaType.manifests.contains(own) {
            isIndex = false
        } else if let declaredType, MediaType.indexes.contains(declaredType) {
            isIndex = true
        } else {
            isIndex = probe.manifests != nil && probe.config == nil
        }
        guard probe.schemaVersion == 2 else {
            throw ValidationError("manifest \(digest)", "schemaVersion \(probe.schemaVersion.map(String.init) ?? "missing") is not supported (only 2)")
        }
        do {
            if isIndex {
                let index = try JSONDecoder().decode(ImageIndex.self, from: data)
                content = .index(index)
                mediaType = index.mediaType ?? declaredType.flatMap { MediaType.indexes.contains($0) ? $0 : nil } ?? MediaType.imageIndex
            } else {
                let manifest = try JSONDecoder().decode(ImageManifest.self, from: data)
                content = .image(manifest)
                mediaType = manifest.mediaType ?? declaredType.flatMap { MediaType.manifests.contains($0) ? $0 : nil } ?? MediaType.imageManifest
            }
        } catch {
            throw ValidationError("manifest \(digest)", "is not an OCI manifest or index: \(ValidationError.reason(error))")
        }
    }

    /// The descriptor of this document.
    public var descriptor: Descriptor {
        Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count), artifactType: artifactType)
    }

    /// The top-level `artifactType`, if any.
    public var artifactType: String? {
        switch content {
        case .image(let m): m.artifactType
        case .index(let i): i.artifactType
        }
    }

    /// The manifest this one refers to (OCI 1.1 `subject`): what a signature or an SBOM is about.
    public var subject: Descriptor? {
        switch content {
        case .image(let m): m.subject
        case .index(let i): i.subject
        }
    }

    /// The top-level annotations, if any.
    public var annotations: [String: String]? {
        switch content {
        case .image(let m): m.annotations
        case .index(let i): i.annotations
        }
    }

    /// The descriptor a referrers list names this manifest by: with its artifact type (the
    /// config's media type when there is none) and its annotations, as the spec lists them.
    public var referrerDescriptor: Descriptor {
        var descriptor = self.descriptor
        if descriptor.artifactType == nil, case .image(let m) = content { descriptor.artifactType = m.config.mediaType }
        descriptor.annotations = annotations
        return descriptor
    }

    /// The manifests an index names (empty for an image manifest).
    public var manifests: [Descriptor] {
        if case .index(let index) = content { return index.manifests }
        return []
    }

    /// The blobs an image manifest names, config first (empty for an index).
    public var blobs: [Descriptor] {
        if case .image(let manifest) = content { return [manifest.config] + manifest.layers }
        return []
    }

    /// Whether this document is an index.
    public var isIndex: Bool {
        if case .index = content { return true }
        return false
    }

    private struct Probe: Decodable {
        struct Config: Decodable { var mediaType: String? }
        var schemaVersion: Int?
        var mediaType: String?
        var artifactType: String?
        var config: Config?
        var manifests: Present?
    }

    /// Decodes any JSON value: the probe only asks whether a key is there.
    private struct Present: Decodable {
        init(from decoder: Decoder) throws {}
    }
}
