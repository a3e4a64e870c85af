import Crypto
import FerryCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import NIOConcurrencyHelpers

/// Who may do what: Basic auth against an htpasswd file (bcrypt entries, as the CNCF registry
/// reads them), or Epoch's rule (reads anonymous, writes and `/v2/` need the bearer token).
/// Nothing here logs or echoes a password, except Epoch's token endpoint, which by design hands
/// back the password it was given to the client that gave it.
public struct ServerAccess: Sendable {
    public enum Mode: Sendable {
        /// Anyone may do anything the location allows.
        case open
        /// Every request needs a user and password of the file.
        case htpasswd([String: String])
        /// Epoch's rule: GET and HEAD are anonymous but for `/v2/`; the rest needs `Bearer <token>`.
        case epoch(token: String)
    }

    let mode: Mode
    private let verified = NIOLockedValueBox<Set<String>>([])

    public init(_ mode: Mode) {
        self.mode = mode
    }

    /// Reads an htpasswd file: `user:hash` lines of bcrypt hashes (`$2y$`, `$2b$`, `$2a$`).
    public static func htpasswd(at path: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw StorageError(.unknown, "\(path): cannot read the htpasswd file")
        }
        var users: [String: String] = [:]
        for (number, line) in text.split(whereSeparator: \.isNewline).enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, ["$2y$", "$2b$", "$2a$"].contains(where: { parts[1].hasPrefix($0) }) else {
                throw StorageError(.unknown, "\(path): line \(number + 1) is not user:bcrypt-hash (make entries with `htpasswd -B`)")
            }
            users[String(parts[0])] = String(parts[1]).trimmingCharacters(in: .whitespaces)
        }
        guard !users.isEmpty else { throw StorageError(.unknown, "\(path): no users") }
        return users
    }

    /// Nil when the request may go on; else the 401 with its challenge.
    func refusal(_ request: Request, isWrite: Bool, isBase: Bool, host: String) -> RegistryFailure? {
        switch mode {
        case .open:
            return nil
        case .htpasswd(let users):
            if let (user, password) = basicCredentials(request), let hash = users[user], check(user, password, hash) { return nil }
            return RegistryFailure(.unauthorized, .unauthorized, "authentication required", headers: [.wwwAuthenticate: #"Basic realm="ferry""#])
        case .epoch(let token):
            guard isWrite || isBase else { return nil }
            if let given = bearerToken(request), constantTimeEqual(given, token) { return nil }
            let realm = "http://\(host)/v2/token"
            return RegistryFailure(.unauthorized, .unauthorized, "authentication required",
                                   headers: [.wwwAuthenticate: #"Bearer realm="\#(realm)",service="epoch""#])
        }
    }

    /// Epoch's `GET|POST /v2/token`: the password of Basic auth (or the form's `password` or
    /// `refresh_token`) comes back as the token; none gives an empty token.
    static func tokenResponse(_ request: inout Request) async -> Response {
        var token = basicCredentialsOf(request)?.password ?? ""
        if token.isEmpty, request.method == .post,
           let body = try? await request.body.collect(upTo: 64 << 10), let form = String(buffer: body).removingPercentEncoding {
            for pair in form.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2, ["password", "refresh_token"].contains(parts[0]) { token = parts[1].replacingOccurrences(of: "+", with: " ") }
            }
        }
        let issued = Date.now.formatted(.iso8601)
        return jsonResponse(.ok, ["token": token, "access_token": token, "expires_in": 3600, "issued_at": issued])
    }

    private func basicCredentials(_ request: Request) -> (String, String)? {
        Self.basicCredentialsOf(request).map { ($0.user, $0.password) }
    }

    private static func basicCredentialsOf(_ request: Request) -> (user: String, password: String)? {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("basic "),
              let data = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
              let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    private func bearerToken(_ request: Request) -> String? {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else { return nil }
        return String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
    }

    /// bcrypt is slow on purpose; a pair that passed once is remembered (as a hash) so that a
    /// pull of many blobs pays for it once.
    private func check(_ user: String, _ password: String, _ hash: String) -> Bool {
        let key = SHA256.hash(data: Data("\(user)\u{0}\(password)\u{0}\(hash)".utf8)).map { String(format: "%02x", $0) }.joined()
        if verified.withLockedValue({ $0.contains(key) }) { return true }
        // `$2y$` is `$2b$` under PHP's name; the library knows the latter.
        let normalized = hash.hasPrefix("$2y$") ? "$2b$" + hash.dropFirst(4) : hash
        guard Bcrypt.verify(password, hash: normalized) else { return false }
        verified.withLockedValue { if $0.count > 10_000 { $0.removeAll() }; $0.insert(key) }
        return true
    }

    private func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
