import FerryCore
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Sends a blob that is a piece of a file with `sendfile`, the kernel copying file to socket,
/// instead of reading it into the process and writing it out again.
///
/// Hummingbird's body writer takes byte buffers only, so the file goes out below it: the
/// response's body writes one marker buffer, and `FileSendHandler`, in the connection's
/// pipeline just after the HTTP/1 codec, puts the file region in its place, written from the
/// codec's own position so that it reaches the HTTP encoder (which frames it by
/// `Content-Length`) in order between the head and the end. Plain HTTP only: TLS encrypts in
/// user space, and there the body is read as usual.
enum FileSending {
    /// The body buffer the handler replaces; it only looks at the next body part after a send
    /// was announced on its connection, so content can never be taken for it.
    static let marker = ByteBuffer(string: "ferry:sendfile")

    /// Whether `channel` has the handler (an HTTP/1 connection without TLS).
    static func available(on channel: any Channel) async -> Bool {
        (try? await channel.eventLoop.submit {
            (try? channel.pipeline.syncOperations.handler(type: FileSendHandler.self)) != nil
        }.get()) ?? false
    }

    /// A body that sends `length` bytes of `fd` from `offset` through `channel`'s handler; it
    /// owns `fd`. It ends when the kernel has taken the last byte, or fails when the connection
    /// goes first.
    static func body(_ fd: SystemPackage.FileDescriptor, offset: Int64, length: Int64, channel: any Channel, metrics: ServerMetrics) -> ResponseBody {
        let send = FileSend(fd, offset: offset, length: length)
        return ResponseBody(contentLength: Int(length)) { writer in
            let done = channel.eventLoop.makePromise(of: Void.self)
            channel.eventLoop.execute {
                do {
                    try channel.pipeline.syncOperations.handler(type: FileSendHandler.self).announce(send, done)
                } catch {
                    done.fail(error)
                }
            }
            try await writer.write(marker)
            try await done.futureResult.get()
            metrics.sentFromFiles.increment(by: length)
            (writer as? CountingWriter)?.count.add(Int(length) - marker.readableBytes)
            try await writer.finish(nil)
        }
    }
}

/// A file region waiting to be sent; it owns its descriptor until the handler takes it, and
/// closes it if nobody does.
final class FileSend: Sendable {
    let offset: Int64
    let length: Int64
    private let descriptor: Mutex<CInt?>

    init(_ fd: SystemPackage.FileDescriptor, offset: Int64, length: Int64) {
        descriptor = Mutex(fd.rawValue)
        self.offset = offset
        self.length = length
    }

    /// The descriptor, handed over once.
    func take() -> CInt? {
        descriptor.withLock { value in
            defer { value = nil }
            return value
        }
    }

    deinit {
        if let fd = take() { close(fd) }
    }
}

/// In each plain HTTP/1 connection's pipeline, after the codec: replaces the marker body of an
/// announced send with the file region. One response at a time goes out on a connection, so at
/// most one send is announced.
final class FileSendHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The send whose marker comes next, and what to tell when it is done.
    private var announced: (send: FileSend, done: EventLoopPromise<Void>)?
    private var isActive = true

    func announce(_ send: FileSend, _ done: EventLoopPromise<Void>) throws {
        guard isActive else { throw ChannelError.ioOnClosedChannel }
        announced = (send, done)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard let (send, done) = announced, case .body(let buffer) = unwrapOutboundIn(data), buffer == FileSending.marker else {
            context.write(data, promise: promise)
            return
        }
        announced = nil
        guard let fd = send.take(),
              let codec = try? context.pipeline.syncOperations.context(handlerType: HTTP1ToHTTPServerCodec.self),
              let start = Int(exactly: send.offset), let end = Int(exactly: send.offset + send.length) else {
            done.fail(ChannelError.ioOnClosedChannel)
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd)
        let region = FileRegion(fileHandle: handle, readerIndex: start, endIndex: end)
        let sent = context.eventLoop.makePromise(of: Void.self)
        sent.futureResult.whenComplete { result in
            try? handle.close()
            done.completeWith(result)
            promise?.completeWith(result)
        }
        // Written from the codec's place: the next handler toward the socket is the HTTP encoder.
        codec.write(NIOAny(HTTPServerResponsePart.body(.fileRegion(region))), promise: sent)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    private func stop() {
        isActive = false
        announced?.done.fail(ChannelError.ioOnClosedChannel)
        announced = nil
    }
}
