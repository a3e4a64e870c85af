import AsyncHTTPClient
import FerryCore
import Foundation
import HTTPSupport
import NIOCore
import NIOHTTP1

/// A `WWW-Authenticate` challenge: `Basic realm="…"` or `Bearer realm="…",service="…",scope="…"`.
struct Challenge: Equatable {
    var scheme: String
    var parameters: [String: String]

    /// Parses one challenge; quoted values may hold commas and escaped quotes.
    init?(header: String) {
        let trimmed = header.drop { $0 == " " }
        guard let space = trimmed.firstIndex(of: " ") else {
            guard !trimmed.isEmpty else { return nil }
            scheme = trimmed.lowercased()
            parameters = [:]
            return
        }
        scheme = trimmed[..<space].lowercased()
        parameters = [:]
        var rest = trimmed[trimmed.index(after: space)...]
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " || $0 == "," }
            guard let equals = rest.firstIndex(of: "=") else { break }
            let key = rest[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            rest = rest[rest.index(after: equals)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var escaped = false
                while let character = rest.first {
                    rest = rest.dropFirst()
                    if escaped {
                        value.append(character)
                        escaped = false
                    } else if character == "\\" {
                        escaped = true
                    } else if character == "\"" {
                        break
                    } else {
                        value.append(character)
                    }
                }
            } else {
                value = String(rest.prefix { $0 != "," }).trimmingCharacters(in: .whitespaces)
                rest = rest.drop { $0 != "," }
            }
            parameters[key] = value
        }
    }
}

/// What a request needs access to: `repository:NAME:pull` or `pull,push`, or the catalog.
struct Scope: Hashable, Sendable, CustomStringConvertible {
    var text: String

    static func pull(_ repository: String) -> Scope { Scope(text: "repository:\(repository):pull") }
    static func push(_ repository: String) -> Scope { Scope(text: "repository:\(repository):pull,push") }
    static func delete(_ repository: String) -> Scope { Scope(text: "repository:\(repository):delete") }
    static let catalog = Scope(text: "registry:catalog:*")

    var description: String { text }
}

/// Answers a registry's challenges and keeps what it got: Basic credentials once the registry
/// asked for them, Bearer tokens per scope until they expire (renewed when one runs out in the
/// middle of a long upload). A raw registry token is sent from the first request, as epoch does.
actor Authenticator {
    private let credential: Credential?
    private let client: HTTPClient
    private let host: String
    private var basic = false
    private var tokens: [Scope: (token: String, expires: Date)] = [:]
    /// The Bearer challenge last seen, reused for other scopes without a round trip.
    private var bearer: Challenge?

    init(credential: Credential?, client: HTTPClient, host: String) {
        self.credential = credential
        self.client = client
        self.host = host
    }

    /// The `Authorization` value for a request needing `scope`, if one is known.
    func authorization(for scope: Scope) async throws -> String? {
        if case .bearer(let token) = credential { return "Bearer \(token)" }
        if let cached = tokens[scope], cached.expires > Date() { return "Bearer \(cached.token)" }
        if let bearer { return try await fetchToken(bearer, scope: scope).map { "Bearer \($0)" } }
        if basic { return basicValue() }
        return nil
    }

    /// Takes note of a 401's challenge to a request that sent `sent` (its `Authorization`, if
    /// any); true when a retry with what is known now may succeed. Requests run concurrently: a
    /// token another request fetched meanwhile counts as new.
    func challenged(by header: String?, scope: Scope, sent: String?) async throws -> Bool {
        guard let header, let challenge = Challenge(header: header) else { return false }
        switch challenge.scheme {
        case "basic":
            guard let value = basicValue(), sent != value else { return false }
            basic = true
            return true
        case "bearer":
            if case .bearer = credential { return false }
            bearer = challenge
            if let cached = tokens[scope], cached.expires > Date(), sent != "Bearer \(cached.token)" { return true }
            tokens[scope] = nil
            guard let token = try await fetchToken(challenge, scope: scope) else { return false }
            return sent != "Bearer \(token)"
        default:
            return false
        }
    }

    private func basicValue() -> String? {
        guard case .basic(let user, let password) = credential else { return nil }
        return "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    /// GETs a token from the challenge's realm for `scope` (and the challenge's own scope, when it
    /// names another), with the credential as Basic auth when there is one.
    private func fetchToken(_ challenge: Challenge, scope: Scope) async throws -> String? {
        if let cached = tokens[scope], cached.expires > Date() { return cached.token }
        guard let realm = challenge.parameters["realm"], var components = URLComponents(string: realm),
              components.scheme == "https" || components.scheme == "http"
        else { throw StorageError(.unauthorized, "docker://\(host): the registry's token realm is not an http(s) URL") }
        var query = components.queryItems ?? []
        if let service = challenge.parameters["service"] { query.append(URLQueryItem(name: "service", value: service)) }
        var scopes = [scope.text]
        if let asked = challenge.parameters["scope"], asked != scope.text { scopes.append(asked) }
        query += scopes.map { URLQueryItem(name: "scope", value: $0) }
        var request: HTTPClientRequest
        if case .identityToken(let refresh) = credential {
            components.queryItems = components.queryItems
            request = HTTPClientRequest(url: components.url?.absoluteString ?? realm)
            request.method = .POST
            var form = URLComponents()
            form.queryItems = [URLQueryItem(name: "grant_type", value: "refresh_token"), URLQueryItem(name: "refresh_token", value: refresh),
                               URLQueryItem(name: "client_id", value: "ferry")] + query
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: form.percentEncodedQuery ?? ""))
        } else {
            components.queryItems = query
            request = HTTPClientRequest(url: components.url?.absoluteString ?? realm)
            if let value = basicValue() { request.headers.add(name: "Authorization", value: value) }
        }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .seconds(60))
        } catch {
            throw StorageError(.unauthorized, "docker://\(host): token endpoint \(components.host ?? "?"): \(HTTPFailure.describe(error))")
        }
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else {
            let detail = RegistryErrors.describe(Array(body.readableBytesView)) ?? "HTTP \(response.status.code)"
            let hint = credential == nil ? " (no credentials were sent: give --creds USER:PASS, or log in with docker or podman)" : ""
            throw StorageError(.unauthorized, "docker://\(host): token endpoint: \(detail)\(hint)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              let token = (object["token"] as? String) ?? (object["access_token"] as? String), !token.isEmpty
        else { throw StorageError(.unauthorized, "docker://\(host): the token endpoint answered without a token") }
        // The spec's default lifetime is 60 s; renew a little early.
        let lifetime = (object["expires_in"] as? Double).map { max(10, $0) } ?? 60
        tokens[scope] = (token, Date().addingTimeInterval(lifetime - 5))
        return token
    }
}
