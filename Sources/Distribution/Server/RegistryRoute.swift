import OCI

/// One endpoint of the distribution API, parsed from a request path. Repository names contain
/// slashes, so a path is read from its end: `/v2/<name>/manifests/<reference>` and so on.
enum RegistryRoute: Equatable, Sendable {
    case base
    case catalog
    case tags(name: String)
    case manifest(name: String, reference: String)
    case blob(name: String, digest: String)
    /// `/v2/<name>/blobs/uploads/`: where an upload starts.
    case uploads(name: String)
    /// `/v2/<name>/blobs/uploads/<id>`: one upload session.
    case upload(name: String, id: String)
    case referrers(name: String, digest: String)

    /// The route of `path`, or nil for a path the API does not have (or a name that is not a
    /// valid repository name).
    static func parse(_ path: String) -> RegistryRoute? {
        if path == "/v2" || path == "/v2/" { return .base }
        guard path.hasPrefix("/v2/") else { return nil }
        let rest = path.dropFirst(4)
        if rest == "_catalog" { return .catalog }
        var parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        // `/blobs/uploads/` ends with an empty component.
        let trailingSlash = parts.last == ""
        if trailingSlash { parts.removeLast() }
        func named(_ dropping: Int, _ make: (String) -> RegistryRoute) -> RegistryRoute? {
            guard parts.count > dropping else { return nil }
            let name = parts.dropLast(dropping).joined(separator: "/")
            return Names.isValidRepository(name) ? make(name) : nil
        }
        let count = parts.count
        guard count >= 2 else { return nil }
        if parts[count - 2] == "tags", parts[count - 1] == "list", !trailingSlash { return named(2) { .tags(name: $0) } }
        if parts[count - 2] == "blobs", parts[count - 1] == "uploads" { return named(2) { .uploads(name: $0) } }
        guard !trailingSlash, !parts[count - 1].isEmpty else { return nil }
        let last = parts[count - 1]
        if count >= 3, parts[count - 3] == "blobs", parts[count - 2] == "uploads" { return named(3) { .upload(name: $0, id: last) } }
        switch parts[count - 2] {
        case "manifests": return named(2) { .manifest(name: $0, reference: last) }
        case "blobs": return named(2) { .blob(name: $0, digest: last) }
        case "referrers": return named(2) { .referrers(name: $0, digest: last) }
        default: return nil
        }
    }

    /// The repository the route is about, if any.
    var name: String? {
        switch self {
        case .base, .catalog: nil
        case .tags(let name), .manifest(let name, _), .blob(let name, _), .uploads(let name), .upload(let name, _), .referrers(let name, _): name
        }
    }
}
