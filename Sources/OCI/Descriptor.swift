/// A content descriptor: what a piece of content is, its digest and its size.
public struct Descriptor: Hashable, Sendable, Codable {
    public var mediaType: String
    public var digest: Digest
    public var size: Int64
    public var urls: [String]?
    public var annotations: [String: String]?
    public var data: String?
    public var platform: Platform?
    public var artifactType: String?

    public init(
        mediaType: String, digest: Digest, size: Int64, annotations: [String: String]? = nil,
        platform: Platform? = nil, artifactType: String? = nil
    ) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.annotations = annotations
        self.platform = platform
        self.artifactType = artifactType
    }

    private enum CodingKeys: String, CodingKey {
        case mediaType, digest, size, urls, annotations, data, platform, artifactType
    }

    /// The largest size a descriptor from input may give (4 PiB): far above any real blob, and
    /// low enough that sums of a few thousand sizes stay far from Int64's limit.
    public static let maximumSize: Int64 = 1 << 52

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mediaType = try c.decodeIfPresent(String.self, forKey: .mediaType) ?? ""
        digest = try c.decode(Digest.self, forKey: .digest)
        size = try c.decode(Int64.self, forKey: .size)
        guard size >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .size, in: c, debugDescription: "negative size \(size)")
        }
        guard size <= Descriptor.maximumSize else {
            throw DecodingError.dataCorruptedError(
                forKey: .size, in: c, debugDescription: "size \(size) is larger than any blob (at most \(Descriptor.maximumSize) bytes, 4 PiB)")
        }
        urls = try c.decodeIfPresent([String].self, forKey: .urls)
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
        data = try c.decodeIfPresent(String.self, forKey: .data)
        platform = try c.decodeIfPresent(Platform.self, forKey: .platform)
        artifactType = try c.decodeIfPresent(String.self, forKey: .artifactType)
    }

    /// The `org.opencontainers.image.ref.name` annotation, if any.
    public var refName: String? { annotations?[AnnotationKey.refName] }
    /// The `org.opencontainers.image.title` annotation, if any.
    public var title: String? { annotations?[AnnotationKey.title] }
    /// Whether this descriptor names a manifest or an index rather than a plain blob.
    public var isManifest: Bool { MediaType.isManifestOrIndex(mediaType) }
}

/// The platform an image runs on, as written in an index.
public struct Platform: Hashable, Sendable, Codable, CustomStringConvertible {
    public var architecture: String
    public var os: String
    public var osVersion: String?
    public var osFeatures: [String]?
    public var variant: String?
    public var features: [String]?

    public init(os: String, architecture: String, variant: String? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = variant
    }

    private enum CodingKeys: String, CodingKey {
        case architecture, os
        case osVersion = "os.version"
        case osFeatures = "os.features"
        case variant, features
    }

    /// Parses `os/arch[/variant]`, as `--platform` takes it.
    public init(parsing string: String) throws {
        let parts = string.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
            throw ValidationError(string, "a platform is os/arch[/variant], e.g. linux/amd64")
        }
        self.init(os: parts[0], architecture: parts[1], variant: parts.count == 3 ? parts[2] : nil)
    }

    /// The platform of the machine Ferry runs on, as Go and skopeo name it.
    public static var host: Platform {
        #if arch(x86_64)
            Platform(os: "linux", architecture: "amd64")
        #elseif arch(arm64)
            Platform(os: "linux", architecture: "arm64", variant: "v8")
        #else
            Platform(os: "linux", architecture: "unknown")
        #endif
    }

    /// Whether an index entry for `other` satisfies a request for this platform. A missing
    /// variant matches any; arm64's default variant is v8.
    public func matches(_ other: Platform) -> Bool {
        guard os == other.os, architecture == other.architecture else { return false }
        guard let wanted = normalizedVariant, let offered = other.normalizedVariant else { return true }
        return wanted == offered
    }

    private var normalizedVariant: String? {
        variant ?? (architecture == "arm64" ? "v8" : nil)
    }

    public var description: String {
        [os, architecture, variant].compactMap { $0 }.joined(separator: "/")
    }
}
