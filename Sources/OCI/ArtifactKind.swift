/// What an artifact is, decided exactly as epoch's `Classify` does (first matching rule wins).
public enum ArtifactKind: String, Sendable, Codable, CaseIterable {
    case containerImage = "container-image"
    case imageIndex = "image-index"
    case snapshot
    case cloudImage = "cloud-image"
    case unknown

    /// Classifies a manifest from its top-level `artifactType`, top-level `mediaType` and
    /// `config.mediaType`:
    /// 1. artifactType os-image or windows-image → cloud-image; snapshot → snapshot;
    /// 2. an OCI or Docker container config → container-image;
    /// 3. a top-level index or manifest-list media type → image-index;
    /// 4. otherwise unknown (an index without a top-level mediaType is unknown).
    public static func classify(artifactType: String?, mediaType: String?, configMediaType: String?) -> ArtifactKind {
        switch artifactType {
        case MediaType.cocoonOSImage, MediaType.cocoonWindowsImage: return .cloudImage
        case MediaType.cocoonSnapshot: return .snapshot
        default: break
        }
        switch configMediaType {
        case MediaType.imageConfig, MediaType.dockerContainerConfig: return .containerImage
        default: break
        }
        if let mediaType, MediaType.indexes.contains(mediaType) { return .imageIndex }
        return .unknown
    }
}
