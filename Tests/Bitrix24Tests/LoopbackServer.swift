import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal HTTP/1.1 server on 127.0.0.1 that answers with a closure, to check the real
/// AsyncHTTPClient transport: what goes over the wire, and what each failure is classified as.
final class LoopbackServer: Sendable {
    struct Request: Sendable {
        var method: HTTPMethod
        var uri: String
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    enum Reply: Sendable {
        case respond(HTTPResponseStatus, HTTPHeaders, String)
        /// The body in these parts, flushed one by one, with no Content-Length (so chunked).
        case respondInParts(HTTPResponseStatus, HTTPHeaders, [String])
        /// Close the connection after reading the whole request, without answering.
        case close
        /// Read the request and never answer.
        case hang
    }

    let port: Int
    private let channel: any Channel
    private let recorded: Recorded

    var requests: [Request] { recorded.all }
    var origin: String { "http://127.0.0.1:\(port)" }

    init(reply: @escaping @Sendable (Request) -> Reply) async throws {
        let recorded = Recorded()
        self.recorded = recorded
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(recorded: recorded, reply: reply))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress?.port ?? 0
    }

    func close() async throws { try await channel.close() }

    private final class Recorded: @unchecked Sendable {
        private let lock = NSLock()
        private var requests: [Request] = []
        var all: [Request] { lock.withLock { requests } }
        func append(_ request: Request) { lock.withLock { requests.append(request) } }
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let recorded: Recorded
        let reply: @Sendable (Request) -> Reply
        var request: Request?

        init(recorded: Recorded, reply: @escaping @Sendable (Request) -> Reply) {
            self.recorded = recorded
            self.reply = reply
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                request = Request(method: head.method, uri: head.uri, headers: head.headers, body: [])
            case .body(var buffer):
                request?.body += buffer.readBytes(length: buffer.readableBytes) ?? []
            case .end:
                guard let request else { return }
                recorded.append(request)
                switch reply(request) {
                case .respond(let status, var headers, let text):
                    headers.replaceOrAdd(name: "Content-Length", value: "\(text.utf8.count)")
                    context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
                    context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
                    context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                case .respondInParts(let status, var headers, let parts):
                    headers.remove(name: "Content-Length")
                    context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
                    for part in parts {
                        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: part)))), promise: nil)
                    }
                    context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                case .close:
                    context.close(promise: nil)
                case .hang:
                    break
                }
            }
        }
    }
}
