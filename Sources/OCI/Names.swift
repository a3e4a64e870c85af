/// Repository names and tags, validated by the OCI distribution spec's grammar.
public enum Names {
    /// Whether `name` matches
    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
    public static func isValidRepository(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255 else { return false }
        return name.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { isValidPathComponent($0.utf8) }
    }

    /// Whether `tag` matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
    public static func isValidTag(_ tag: String) -> Bool {
        let bytes = Array(tag.utf8)
        guard let first = bytes.first, bytes.count <= 128 else { return false }
        guard isAlnum(first) || first == UInt8(ascii: "_") else { return false }
        return bytes.dropFirst().allSatisfy { isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    /// Validates a repository name, saying what is wrong with it.
    public static func validateRepository(_ name: String) throws {
        guard isValidRepository(name) else {
            throw ValidationError(name, "not a valid repository name (lowercase letters, digits and . _ __ - separators, components joined by /)")
        }
    }

    /// Validates a tag, saying what is wrong with it.
    public static func validateTag(_ tag: String) throws {
        guard isValidTag(tag) else {
            throw ValidationError(tag, "not a valid tag (up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -)")
        }
    }

    /// Whether `name` is what a layout's `ref.name` may hold: a tag, or a full reference such as
    /// `example.com/app:v1`.
    public static func isValidLayoutTag(_ name: String) -> Bool {
        if isValidTag(name) { return true }
        guard let (repository, tag) = splitTag(name) else { return false }
        return isValidTag(tag) && isValidQualifiedRepository(repository)
    }

    /// Whether `name` is a registry-qualified repository such as `example.com:5000/team/app`:
    /// an optional host (with port) followed by a valid repository path.
    public static func isValidQualifiedRepository(_ name: String) -> Bool {
        if isValidRepository(name) { return true }
        guard let slash = name.firstIndex(of: "/") else { return false }
        return isValidHost(String(name[..<slash])) && isValidRepository(String(name[name.index(after: slash)...]))
    }

    /// The registry a reference without a host names, as docker and skopeo read it.
    public static let dockerHub = "docker.io"

    /// The host and the rest of `HOST/NAME…` as skopeo reads it: a first component without a `.`
    /// or `:` that is not `localhost` is part of the name, and the host is Docker Hub.
    public static func splitRegistryHost(_ text: String) -> (host: String, rest: String) {
        guard let slash = text.firstIndex(of: "/") else { return (dockerHub, text) }
        let first = text[..<slash]
        guard first.contains(".") || first.contains(":") || first == "localhost" else { return (dockerHub, text) }
        return (String(first), String(text[text.index(after: slash)...]))
    }

    /// Whether `host` is `domain[:port]` as the distribution reference grammar allows.
    public static func isValidHost(_ host: String) -> Bool {
        var domain = Substring(host)
        if let colon = host.lastIndex(of: ":") {
            let port = host[host.index(after: colon)...]
            guard !port.isEmpty, port.utf8.allSatisfy(isDigit), let number = Int(port), number <= 65535 else { return false }
            domain = host[..<colon]
        }
        guard !domain.isEmpty else { return false }
        return domain.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { part in
            let bytes = Array(part.utf8)
            guard let first = bytes.first, let last = bytes.last else { return false }
            return isAlnumAnyCase(first) && isAlnumAnyCase(last) && bytes.allSatisfy { isAlnumAnyCase($0) || $0 == UInt8(ascii: "-") }
        }
    }

    /// Splits `repo:tag` at the last colon that follows the last slash; nil when there is no tag.
    public static func splitTag(_ reference: String) -> (repository: String, tag: String)? {
        let lastSlash = reference.lastIndex(of: "/") ?? reference.startIndex
        guard let colon = reference[lastSlash...].lastIndex(of: ":") else { return nil }
        return (String(reference[..<colon]), String(reference[reference.index(after: colon)...]))
    }

    private static func isValidPathComponent(_ bytes: Substring.UTF8View) -> Bool {
        // alnum+ (separator alnum+)*, separator = "." | "_" | "__" | "-"+
        var index = bytes.startIndex
        func alnumRun() -> Bool {
            let start = index
            while index < bytes.endIndex, isLowerAlnum(bytes[index]) { index = bytes.index(after: index) }
            return index != start
        }
        guard alnumRun() else { return false }
        while index < bytes.endIndex {
            let c = bytes[index]
            if c == UInt8(ascii: ".") {
                index = bytes.index(after: index)
            } else if c == UInt8(ascii: "_") {
                index = bytes.index(after: index)
                if index < bytes.endIndex, bytes[index] == UInt8(ascii: "_") { index = bytes.index(after: index) }
            } else if c == UInt8(ascii: "-") {
                while index < bytes.endIndex, bytes[index] == UInt8(ascii: "-") { index = bytes.index(after: index) }
            } else {
                return false
            }
            guard alnumRun() else { return false }
        }
        return true
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    private static func isLowerAlnum(_ c: UInt8) -> Bool { isDigit(c) || (c >= 0x61 && c <= 0x7a) }
    private static func isAlnumAnyCase(_ c: UInt8) -> Bool { isLowerAlnum(c) || (c >= 0x41 && c <= 0x5a) }
    private static func isAlnum(_ c: UInt8) -> Bool { isAlnumAnyCase(c) }
}
