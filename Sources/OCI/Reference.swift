/// Which manifest of a repository a reference means.
public enum ManifestSelector: Hashable, Sendable, CustomStringConvertible {
    /// A tag. In a layout this may also be a full reference (`example.com/app:v1`).
    case tag(String)
    case digest(Digest)

    public var description: String {
        switch self {
        case .tag(let tag): tag
        case .digest(let digest): digest.description
        }
    }
}

/// Where an Epoch bucket lives.
public enum EpochBucket: Hashable, Sendable {
    /// The bucket the environment configures (`EPOCH_S3_*`, else `EPOCH_DIR`).
    case configured
    /// A local directory mirroring the bucket's root.
    case directory(String)
    /// An S3 bucket, with an explicit key prefix or nil for `EPOCH_S3_PREFIX`.
    case s3(bucket: String, prefix: String?)
}

/// A place that holds content, without naming one artifact: `ferry ls`, `sync`, `verify`, `gc`.
public enum Location: Hashable, Sendable {
    case layout(path: String)
    case layoutArchive(path: String)
    case epoch(EpochBucket)
    case cocoon(root: String?)
    case cocoonArchive(path: String)
    /// `docker://HOST[:PORT][/PREFIX]`: a registry, or the repositories under PREFIX.
    case registry(host: String, prefix: String)
}

/// One artifact in one place, parsed from the command line forms of DESIGN.md.
public enum Reference: Hashable, Sendable {
    /// `oci:DIR[:TAG|@DIGEST]`
    case layout(path: String, selector: ManifestSelector?)
    /// `oci-archive:FILE[:TAG|@DIGEST]`
    case layoutArchive(path: String, selector: ManifestSelector?)
    /// `epoch:[LOCATION#]NAME[:TAG|@DIGEST]`
    case epoch(bucket: EpochBucket, name: String, selector: ManifestSelector?)
    /// `cocoon:[ROOT#]NAME`
    case cocoon(root: String?, name: String)
    /// `cocoon-archive:FILE`
    case cocoonArchive(path: String)
    /// `docker://HOST[:PORT]/NAME[:TAG|@DIGEST]`
    case registry(host: String, name: String, selector: ManifestSelector?)
    /// `disk:FILE`
    case disk(path: String)

    /// The transports and the shape of their references, for messages.
    public static let forms = [
        "oci:DIR[:TAG|@DIGEST]", "oci-archive:FILE[:TAG]", "epoch:[LOCATION#]NAME[:TAG|@DIGEST]",
        "cocoon:[ROOT#]NAME", "cocoon-archive:FILE", "docker://HOST[:PORT]/NAME[:TAG|@DIGEST]", "disk:FILE",
    ]

    /// Parses a reference; the transport prefix is required.
    public init(parsing input: String) throws {
        let (transport, rest) = try splitTransport(input)
        switch transport {
        case "oci", "oci-archive":
            let (path, selector) = try parseLayoutBody(rest, input: input)
            self = transport == "oci" ? .layout(path: path, selector: selector) : .layoutArchive(path: path, selector: selector)
        case "epoch":
            var bucket = EpochBucket.configured
            var body = Substring(rest)
            if let hash = rest.lastIndex(of: "#") {
                bucket = try parseEpochBucket(String(rest[..<hash]), input: input)
                body = rest[rest.index(after: hash)...]
            }
            let (name, selector) = try parseNamed(String(body), input: input)
            self = .epoch(bucket: bucket, name: name, selector: selector)
        case "cocoon":
            var root: String?
            var name = rest
            if let hash = rest.lastIndex(of: "#") {
                root = String(rest[..<hash])
                name = String(rest[rest.index(after: hash)...])
                guard !root!.isEmpty else { throw ValidationError(input, "empty cocoon root before '#'") }
            }
            guard !name.isEmpty, !name.contains("/") else {
                throw ValidationError(input, "a cocoon reference is cocoon:[ROOT#]NAME with a snapshot name or id")
            }
            self = .cocoon(root: root, name: name)
        case "cocoon-archive":
            guard !rest.isEmpty else { throw ValidationError(input, "cocoon-archive: needs a file path") }
            self = .cocoonArchive(path: rest)
        case "docker":
            guard rest.hasPrefix("//") else { throw ValidationError(input, "a registry reference is docker://HOST[:PORT]/NAME[:TAG|@DIGEST]") }
            let (host, body) = Names.splitRegistryHost(String(rest.dropFirst(2)))
            let bare = body.prefix { $0 != ":" && $0 != "@" }
            guard !body.isEmpty, host != Names.dockerHub || body.contains("/") || !(bare.contains(".") || bare == "localhost") else {
                throw ValidationError(input, "a registry reference needs a repository name after the host")
            }
            guard Names.isValidHost(host) else { throw ValidationError(input, "'\(host)' is not a valid registry host[:port]") }
            let (name, selector) = try parseNamed(body, input: input, tagBeforeDigest: true)
            self = .registry(host: host, name: host == Names.dockerHub && !name.contains("/") ? "library/" + name : name, selector: selector)
        case "disk":
            guard !rest.isEmpty else { throw ValidationError(input, "disk: needs a file path") }
            self = .disk(path: rest)
        default:
            throw unknownTransport(transport, input: input)
        }
    }

    /// The repository name the reference carries: a registry or bucket name, or the name part of
    /// a layout tag written as a full reference. Empty when the place has no names.
    public var repository: String {
        switch self {
        case .epoch(_, let name, _), .registry(_, let name, _), .cocoon(_, let name): name
        case .layout(_, .tag(let tag)), .layoutArchive(_, .tag(let tag)): Names.splitTag(tag)?.repository ?? ""
        default: ""
        }
    }

    /// The tag or digest, if the reference names one.
    public var selector: ManifestSelector? {
        switch self {
        case .layout(_, let s), .layoutArchive(_, let s), .epoch(_, _, let s), .registry(_, _, let s): s
        default: nil
        }
    }
}

extension Location {
    /// The transports and the shape of their locations, for messages.
    public static let forms = ["oci:DIR", "oci-archive:FILE", "epoch:", "epoch:DIR", "epoch:s3://BUCKET[/PREFIX]", "cocoon:ROOT", "cocoon-archive:FILE", "docker://HOST[:PORT][/PREFIX]"]

    /// Parses a location: a reference without the name part.
    public init(parsing input: String) throws {
        let (transport, rest) = try splitTransport(input)
        switch transport {
        case "oci", "oci-archive":
            guard !rest.isEmpty else { throw ValidationError(input, "\(transport): needs a path") }
            self = transport == "oci" ? .layout(path: rest) : .layoutArchive(path: rest)
        case "epoch", "cocoon":
            // DIR#NAME is a reference; a location names no snapshot or repository.
            if rest.contains("#") {
                throw ValidationError(input, "a location names no repository: give the name apart (ferry ls \(transport):DIR NAME), or use a reference where one is asked for (\(transport):DIR#NAME)")
            }
            self = transport == "epoch" ? .epoch(rest.isEmpty ? .configured : try parseEpochBucket(rest, input: input)) : .cocoon(root: rest.isEmpty ? nil : rest)
        case "cocoon-archive":
            guard !rest.isEmpty else { throw ValidationError(input, "cocoon-archive: needs a file path") }
            self = .cocoonArchive(path: rest)
        case "docker":
            let body = rest.hasPrefix("//") ? rest.dropFirst(2) : ""
            let host = String(body.prefix { $0 != "/" })
            let prefix = String(body.dropFirst(host.count).drop { $0 == "/" })
            guard Names.isValidHost(host) else { throw ValidationError(input, "a registry location is docker://HOST[:PORT][/PREFIX]") }
            guard prefix.isEmpty || Names.isValidRepository(prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix) else {
                throw ValidationError(input, "'\(prefix)' is not a valid repository prefix (lowercase, digits, . _ - separators, / between components)")
            }
            self = .registry(host: host, prefix: prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix)
        default:
            throw unknownTransport(transport, input: input, forms: Location.forms)
        }
    }
}

private func splitTransport(_ input: String) throws -> (String, String) {
    guard let colon = input.firstIndex(of: ":") else {
        throw ValidationError(input, "no transport prefix (one of: \(Reference.forms.joined(separator: ", ")))")
    }
    return (String(input[..<colon]), String(input[input.index(after: colon)...]))
}

private func unknownTransport(_ transport: String, input: String, forms: [String] = Reference.forms) -> ValidationError {
    ValidationError(input, "unknown transport '\(transport)' (one of: \(forms.joined(separator: ", ")))")
}

/// `PATH[:TAG|@DIGEST]`: the path ends at the first ':' (as skopeo reads it); the tag may be a
/// full reference such as `example.com/app:v1`.
private func parseLayoutBody(_ body: String, input: String) throws -> (String, ManifestSelector?) {
    if let at = body.lastIndex(of: "@"), body[body.index(after: at)...].contains(":") {
        let digest: Digest
        do {
            digest = try Digest(parsing: String(body[body.index(after: at)...]))
        } catch let error as ValidationError {
            throw ValidationError(input, error.problem)
        }
        let path = String(body[..<at])
        guard !path.isEmpty else { throw ValidationError(input, "missing path before '@'") }
        return (path, .digest(digest))
    }
    guard let colon = body.firstIndex(of: ":") else {
        guard !body.isEmpty else { throw ValidationError(input, "missing path") }
        return (body, nil)
    }
    let path = String(body[..<colon])
    let tag = String(body[body.index(after: colon)...])
    guard !path.isEmpty else { throw ValidationError(input, "missing path before ':'") }
    if body[body.index(after: colon)...].hasPrefix("sha256:") || body[body.index(after: colon)...].hasPrefix("sha512:") {
        throw ValidationError(input, "a digest is written PATH@\(tag), and '\(tag)' must be a valid digest")
    }
    guard Names.isValidLayoutTag(tag) else {
        throw ValidationError(input, "'\(tag)' is neither a valid tag nor a full reference like example.com/app:v1")
    }
    return (path, .tag(tag))
}

/// `NAME[:TAG|@DIGEST]` with a repository name of the distribution grammar; with
/// `tagBeforeDigest`, `NAME:TAG@DIGEST` too, the digest pinning what the tag named (as skopeo
/// reads it).
private func parseNamed(_ body: String, input: String, tagBeforeDigest: Bool = false) throws -> (String, ManifestSelector?) {
    var name = body
    var selector: ManifestSelector?
    if let at = body.firstIndex(of: "@") {
        name = String(body[..<at])
        if tagBeforeDigest, let (repository, tag) = Names.splitTag(name) {
            guard Names.isValidTag(tag) else { throw ValidationError(input, "'\(tag)' is not a valid tag") }
            name = repository
        }
        let digestText = String(body[body.index(after: at)...])
        do {
            selector = .digest(try Digest(parsing: digestText))
        } catch let error as ValidationError {
            throw ValidationError(input, error.problem)
        }
    } else if let (repository, tag) = Names.splitTag(body) {
        name = repository
        guard Names.isValidTag(tag) else { throw ValidationError(input, "'\(tag)' is not a valid tag") }
        selector = .tag(tag)
    }
    guard !name.isEmpty else { throw ValidationError(input, "missing repository name") }
    guard Names.isValidRepository(name) else {
        throw ValidationError(input, "'\(name)' is not a valid repository name (lowercase, digits, . _ - separators, / between components)")
    }
    return (name, selector)
}

private func parseEpochBucket(_ text: String, input: String) throws -> EpochBucket {
    if text.isEmpty { return .configured }
    if text.hasPrefix("s3://") {
        let rest = text.dropFirst(5)
        let bucket = rest.prefix { $0 != "/" }
        guard !bucket.isEmpty else { throw ValidationError(input, "s3:// needs a bucket name") }
        let prefixPart = rest.dropFirst(bucket.count).drop { $0 == "/" }
        guard !prefixPart.isEmpty else { return .s3(bucket: String(bucket), prefix: nil) }
        let prefix = prefixPart.hasSuffix("/") ? String(prefixPart) : prefixPart + "/"
        return .s3(bucket: String(bucket), prefix: prefix)
    }
    if text.contains("://") { throw ValidationError(input, "an epoch location is a directory or s3://BUCKET[/PREFIX]") }
    return .directory(text)
}
