import OCI

/// `Reference(parsing:)`, `Location(parsing:)`, `Digest(parsing:)`, `Platform(parsing:)`: what
/// parses renders back to text that parses to the same value, and holds only valid names.
enum ReferenceHarness {
    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let reference = try? Reference(parsing: text) {
            checkNames(reference)
            let again = render(reference)
            require((try? Reference(parsing: again)) == reference, "\(text.debugDescription) renders as \(again.debugDescription), which parses differently")
            _ = reference.repository
            _ = reference.selector
        }
        if let location = try? Location(parsing: text) {
            let again = render(location)
            require((try? Location(parsing: again)) == location, "location \(text.debugDescription) renders as \(again.debugDescription), which parses differently")
        }
        if let digest = try? Digest(parsing: text) {
            require(digest.encoded.utf8.count == digest.algorithm.hexLength, "digest \(text.debugDescription) has the wrong length")
            require((try? Digest(parsing: digest.description)) == digest, "digest \(text.debugDescription) does not round-trip")
        }
        if let platform = try? Platform(parsing: text) {
            require((try? Platform(parsing: platform.description)) == platform, "platform \(text.debugDescription) does not round-trip")
        }
    }

    private static func checkNames(_ reference: Reference) {
        switch reference {
        case .registry(let host, let name, let selector):
            require(Names.isValidHost(host), "registry host \(host.debugDescription) is not valid")
            require(Names.isValidRepository(name), "registry name \(name.debugDescription) is not valid")
            if case .tag(let tag) = selector { require(Names.isValidTag(tag), "tag \(tag.debugDescription) is not valid") }
        case .epoch(_, let name, let selector):
            require(Names.isValidRepository(name), "epoch name \(name.debugDescription) is not valid")
            if case .tag(let tag) = selector { require(Names.isValidTag(tag), "tag \(tag.debugDescription) is not valid") }
        case .layout(let path, let selector), .layoutArchive(let path, let selector):
            require(!path.isEmpty, "empty layout path")
            if case .tag(let tag) = selector { require(Names.isValidLayoutTag(tag), "layout tag \(tag.debugDescription) is not valid") }
        case .cocoon(let root, let name):
            require(!name.isEmpty && !name.contains("/"), "cocoon name \(name.debugDescription)")
            require(root.map { !$0.isEmpty } ?? true, "empty cocoon root")
        case .cocoonArchive(let path), .disk(let path):
            require(!path.isEmpty, "empty path")
        }
    }

    /// The text form of DESIGN.md's reference table.
    static func render(_ reference: Reference) -> String {
        func suffix(_ selector: ManifestSelector?) -> String {
            switch selector {
            case .tag(let tag): ":" + tag
            case .digest(let digest): "@" + digest.description
            case nil: ""
            }
        }
        switch reference {
        case .layout(let path, let selector): return "oci:" + path + suffix(selector)
        case .layoutArchive(let path, let selector): return "oci-archive:" + path + suffix(selector)
        case .epoch(let bucket, let name, let selector):
            let place = bucket == .configured ? "" : render(bucket) + "#"
            return "epoch:" + place + name + suffix(selector)
        case .cocoon(let root, let name): return "cocoon:" + (root.map { $0 + "#" } ?? "") + name
        case .cocoonArchive(let path): return "cocoon-archive:" + path
        case .registry(let host, let name, let selector): return "docker://" + host + "/" + name + suffix(selector)
        case .disk(let path): return "disk:" + path
        }
    }

    static func render(_ location: Location) -> String {
        switch location {
        case .layout(let path): "oci:" + path
        case .layoutArchive(let path): "oci-archive:" + path
        case .epoch(let bucket): "epoch:" + render(bucket)
        case .cocoon(let root): "cocoon:" + (root ?? "")
        case .cocoonArchive(let path): "cocoon-archive:" + path
        case .registry(let host, let prefix): "docker://" + host + (prefix.isEmpty ? "" : "/" + prefix)
        }
    }

    private static func render(_ bucket: EpochBucket) -> String {
        switch bucket {
        case .configured: ""
        case .directory(let path): path
        case .s3(let bucket, let prefix): "s3://" + bucket + (prefix.map { "/" + $0 } ?? "")
        }
    }
}
