import AsyncHTTPClient
import FerryCore
import Foundation
import NIOCore
import NIOPosix

/// What went wrong with a request that got no response, in words for a message, and whether a
/// retry may mend it.
public enum HTTPFailure {
    /// Connections refused, reset or timed out; not TLS failures, which a retry cannot mend.
    public static func isTransient(_ error: Error) -> Bool {
        if let error = error as? HTTPClientError {
            return [.remoteConnectionClosed, .readTimeout, .writeTimeout, .connectTimeout, .deadlineExceeded].contains(error)
        }
        return error is NIOConnectionError || error is IOError || error is ChannelError
    }

    /// One line about `error`; `caHint` says where a CA can be named.
    public static func describe(_ error: Error, caHint: String = "EPOCH_CA_CERT") -> String {
        let text = String(describing: error)
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "the server's TLS certificate is not trusted (name its CA in \(caHint), or pass --tls-verify=false)"
        }
        if text.contains("handshakeFailed") || text.contains("NIOSSL") { return "TLS handshake failed" }
        if let error = error as? IOError { return "the server is unreachable: \(String(cString: strerror(error.errnoCode)))" }
        if error is NIOConnectionError { return "cannot connect to the server" }
        if let error = error as? HTTPClientError {
            switch error {
            case .remoteConnectionClosed: return "the server closed the connection in the middle of the request"
            case .readTimeout: return "the server sent nothing for \(NetworkDeadlines.idleTimeoutText) (--timeout)"
            case .writeTimeout: return "the server took nothing for \(NetworkDeadlines.idleTimeoutText) (--timeout)"
            case .connectTimeout: return "the server did not accept a connection in time"
            case .deadlineExceeded: return "the request took longer than its deadline"
            default: return "\(error)"
            }
        }
        return text.split(separator: "\n").first.map(String.init) ?? "request failed"
    }
}

extension HTTPClientResponse.Body {
    /// The body as a `ByteStream`, read as the consumer asks for it.
    public func byteStream() -> ByteStream {
        let iterator = BodyIterator(makeAsyncIterator())
        return ByteStream {
            guard let buffer = try await iterator.next() else { return nil }
            return Array(buffer.readableBytesView)
        }
    }
}

/// The body of one response, read by one stream at a time.
private final class BodyIterator: @unchecked Sendable {
    private var iterator: HTTPClientResponse.Body.AsyncIterator
    init(_ iterator: HTTPClientResponse.Body.AsyncIterator) { self.iterator = iterator }
    func next() async throws -> ByteBuffer? { try await iterator.next() }
}
