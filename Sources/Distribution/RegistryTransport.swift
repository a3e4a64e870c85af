import AsyncHTTPClient
import FerryCore
import Foundation
import HTTPSupport
import NIOCore
import NIOHTTP1
import OCI
import Synchronization

/// One response of a registry: status, headers, and the body still to be read.
struct RegistryResponse {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: HTTPClientResponse.Body
    /// The URL that answered (after redirects): upload locations are relative to it.
    var url: URL

    /// The body, at most `limit` bytes.
    func collect(upTo limit: Int = 1 << 20) async throws -> [UInt8] {
        Array((try await body.collect(upTo: limit)).readableBytesView)
    }

    /// Reads and drops the body so that the connection can serve the next request.
    func discard() async {
        _ = try? await body.collect(upTo: 4 << 20)
    }
}

/// The request layer under the registry API: the scheme (HTTPS; plain HTTP only with
/// `--tls-verify=false`), authentication, retries with backoff on dropped connections, 5xx and
/// 429 (honouring `Retry-After`) for requests that can be sent again, deadlines, and redirects
/// followed by hand so that credentials never travel to another host.
final class RegistryTransport: Sendable {
    /// The registry as the user named it (`docker.io`, `localhost:5000`).
    let host: String
    /// The host requests go to (`registry-1.docker.io` for Docker Hub).
    let apiHost: String
    let client: HTTPClient
    let authenticator: Authenticator
    let allowsPlainHTTP: Bool
    /// Attempts per request, the first included (`--retry-times N` is N + 1 attempts).
    let attempts: Int
    private let scheme: SchemeChoice
    /// Blobs known to be in a repository of this registry (see `RegistryStore.known`).
    let known = Mutex<[Digest: String]>([:])

    private struct Key: Hashable {
        var host: String
        var credential: Credential?
        var trust: Trust
        var retryTimes: Int
    }

    private static let transports = Mutex<[Key: RegistryTransport]>([:])

    /// The one transport of this process for a registry, credential and trust: stores of the same
    /// registry share its tokens and what it knows of the blobs there.
    static func shared(host: String, credential: Credential?, trust: Trust, retryTimes: Int) throws -> RegistryTransport {
        let key = Key(host: host, credential: credential, trust: trust, retryTimes: retryTimes)
        if let found = transports.withLock({ $0[key] }) { return found }
        let made = try RegistryTransport(host: host, credential: credential, trust: trust, retryTimes: retryTimes)
        return transports.withLock { transports in
            if let found = transports[key] { return found }
            transports[key] = made
            return made
        }
    }

    init(host: String, credential: Credential?, trust: Trust, retryTimes: Int = 3) throws {
        self.host = host
        apiHost = (host == "docker.io" || host == "index.docker.io") ? "registry-1.docker.io" : host
        client = try HTTPClients.client(for: trust)
        authenticator = Authenticator(credential: credential, client: client, host: host)
        allowsPlainHTTP = !trust.verifies
        attempts = max(1, retryTimes + 1)
        scheme = SchemeChoice()
    }

    /// A request: `path` under `https://HOST` (or an absolute URL a registry gave), `body` made
    /// anew for each attempt (nil: none), `retries` false for bodies that cannot be sent again.
    struct Request {
        var method: HTTPMethod
        var path: String
        var query: [(String, String)] = []
        var headers: [(String, String)] = []
        var body: (@Sendable () -> HTTPClientRequest.Body?)?
        var scope: Scope
        var retries = true
        var followRedirects = true
        /// The whole exchange up to the response's head; the body has the client's read timeout.
        var deadline: TimeAmount = .seconds(120)
        /// What the request does, for messages (`docker://HOST/NAME: push blob sha256:…`).
        var operation = ""
    }

    /// Sends `request` and returns the first response that is not a challenge, a redirect or a
    /// retryable failure. A response with any other status is the caller's to judge.
    func send(_ request: Request) async throws -> RegistryResponse {
        let operation = request.operation.isEmpty ? "docker://\(host): \(request.method.rawValue) \(request.path)" : request.operation
        var url = try await baseURL(for: request.path, query: request.query)
        var sameHost = true
        let budget = RetryBudget(attempts: attempts)
        var attempt = 0
        var redirects = 0
        var authenticated = false
        while true {
            attempt += 1
            var outgoing = HTTPClientRequest(url: url.absoluteString)
            outgoing.method = request.method
            outgoing.headers.add(name: "User-Agent", value: "ferry/0.1")
            for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
            var sent: String?
            if sameHost, let authorization = try await authenticator.authorization(for: request.scope) {
                outgoing.headers.replaceOrAdd(name: "Authorization", value: authorization)
                sent = authorization
            }
            outgoing.body = request.body?()
            let response: HTTPClientResponse
            do {
                response = try await client.execute(outgoing, timeout: request.deadline)
            } catch {
                if request.retries, budget.allowsRetry(after: attempt), HTTPFailure.isTransient(error) {
                    try await backoff(attempt, retryAfter: nil)
                    continue
                }
                throw StorageError(.unknown, "\(operation): \(HTTPFailure.describe(error, caHint: "EPOCH_CA_CERT or /etc/containers/certs.d/\(host)/"))")
            }
            let answer = RegistryResponse(status: response.status, headers: response.headers, body: response.body, url: url)
            let code = Int(response.status.code)
            if code == 401, sameHost {
                let body = (try? await answer.collect(upTo: 64 << 10)) ?? []
                if !authenticated {
                    authenticated = true
                    if try await authenticator.challenged(by: response.headers.first(name: "WWW-Authenticate"), scope: request.scope, sent: sent) {
                        attempt -= 1
                        continue
                    }
                }
                let refused = RegistryErrors.failure(status: response.status, body: body, operation: operation)
                let hint = sent == nil ? "no credentials were sent (give --creds USER:PASS, or log in with docker or podman)" : "the registry refused the credentials"
                throw StorageError(.unauthorized, "\(refused.message); \(hint)")
            }
            if [301, 302, 303, 307, 308].contains(code), request.followRedirects {
                await answer.discard()
                redirects += 1
                guard redirects <= 5, let location = response.headers.first(name: "Location"),
                      let next = URL(string: location, relativeTo: url)?.absoluteURL
                else { throw StorageError(.unknown, "\(operation): a redirect without a usable Location") }
                // Credentials stay with the registry: a presigned URL on a storage host needs none.
                sameHost = sameHost && next.host == url.host && next.port == url.port
                url = next
                attempt -= 1
                continue
            }
            if code == 429 || code >= 500, request.retries, budget.allowsRetry(after: attempt) {
                let retryAfter = response.headers.first(name: "Retry-After").flatMap(Double.init)
                await answer.discard()
                try await backoff(attempt, retryAfter: retryAfter)
                continue
            }
            return answer
        }
    }

    /// Sends `request` and fails unless the status is one of `expected`, with the registry's
    /// own error code and message.
    func expect(_ expected: Set<Int>, _ request: Request, operation: String) async throws -> RegistryResponse {
        var request = request
        request.operation = operation
        let response = try await send(request)
        guard expected.contains(Int(response.status.code)) else {
            let body = (try? await response.collect(upTo: 64 << 10)) ?? []
            throw RegistryErrors.failure(status: response.status, body: body, operation: operation)
        }
        return response
    }

    private func backoff(_ attempt: Int, retryAfter: Double?) async throws {
        let seconds = min(30, retryAfter ?? 0.25 * Double(1 << min(attempt - 1, 6)))
        try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
    }

    /// `https://HOST/path`, or `http://` when the registry speaks only that and plain HTTP is
    /// allowed; absolute URLs (upload locations) are used as given.
    private func baseURL(for path: String, query: [(String, String)]) async throws -> URL {
        var components: URLComponents
        if path.hasPrefix("http://") || path.hasPrefix("https://") {
            guard let given = URLComponents(string: path) else { throw StorageError(.unknown, "\(host): an upload location that is not a URL") }
            components = given
        } else {
            components = URLComponents()
            components.scheme = try await scheme.resolve(for: self)
            let parts = apiHost.split(separator: ":", maxSplits: 1)
            components.host = String(parts[0])
            if parts.count == 2 { components.port = Int(parts[1]) }
            components.percentEncodedPath = path
        }
        if !query.isEmpty {
            var items = components.queryItems ?? []
            items += query.map { URLQueryItem(name: $0.0, value: $0.1) }
            components.queryItems = items
            // `+` in a value (a digest never has one, a `last` tag may) must not read as a space.
            components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        }
        guard let url = components.url else { throw StorageError(.unknown, "\(host): cannot form a URL for \(path)") }
        return url
    }

    /// Whether `/v2/` answers on HTTPS; where it does not and plain HTTP is allowed, HTTP.
    fileprivate func probe(_ scheme: String) async -> Bool {
        var request = HTTPClientRequest(url: "\(scheme)://\(apiHost)/v2/")
        request.method = .GET
        guard let response = try? await client.execute(request, timeout: .seconds(30)) else { return false }
        _ = try? await response.body.collect(upTo: 1 << 16)
        return true
    }
}

/// The scheme a registry speaks, found once.
private actor SchemeChoice {
    private var chosen: String?

    func resolve(for transport: RegistryTransport) async throws -> String {
        if let chosen { return chosen }
        var scheme = "https"
        if transport.allowsPlainHTTP, !(await transport.probe("https")) {
            scheme = "http"
        }
        chosen = scheme
        return scheme
    }
}
