import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// `HTTPTransport` over AsyncHTTPClient.
///
/// It knows whether a request may have reached the server from AsyncHTTPClient's report that
/// it began writing the request head: a failure before that means nothing was sent (connection
/// refused, DNS, TLS, pool timeout), so it is `.notExecuted`; any later failure, a pooled
/// connection found closed while writing included, is `.ambiguous`.
///
/// The exchange runs on AsyncHTTPClient's event loop through a response delegate, which
/// gathers the answer there and hands it over once: the request and the answer do not each
/// cross between the event loop and Swift's task threads on every part.
struct AsyncHTTPClientTransport: HTTPTransport {
    let client: HTTPClient
    let maxResponseBytes: Int

    func send(_ request: HTTPRequestData, timeout: Duration) async throws(Bitrix24Error) -> HTTPResponseData {
        let delegate = CollectingDelegate(maxBytes: maxResponseBytes)
        do {
            let outgoing = try HTTPClient.Request(
                url: request.url.absoluteString, method: request.method, headers: request.headers,
                body: request.body.map { .byteBuffer(ByteBuffer(bytes: $0)) })
            // The delegate runs on the connection's own event loop, so "the head was written"
            // is known before a deadline or a cancel on that loop can end the exchange.
            let task = client.execute(
                request: outgoing, delegate: delegate, eventLoop: .delegateAndChannel(on: client.eventLoopGroup.next()),
                deadline: .now() + TimeAmount(timeout))
            return try await withTaskCancellationHandler {
                try await task.futureResult.get()
            } onCancel: {
                task.cancel()
            }
        } catch let error as CollectingDelegate.TooLarge {
            throw Bitrix24Error(code: .responseTooLarge, errorDescription: "the response exceeded \(error.maxBytes) bytes")
        } catch {
            throw Self.classify(error, sent: delegate.sentHead)
        }
    }

    static func classify(_ error: any Error, sent: Bool) -> Bitrix24Error {
        let code: Bitrix24Error.Code
        switch error {
        case let error as HTTPClientError:
            switch error {
            case .connectTimeout, .getConnectionFromPoolTimeout, .tlsHandshakeTimeout, .socksHandshakeTimeout,
                .httpProxyHandshakeTimeout, .alreadyShutdown:
                code = .connectionFailed
            case .readTimeout, .writeTimeout, .deadlineExceeded:
                code = .timeout
            case .remoteConnectionClosed:
                code = .connectionClosed
            case .cancelled, .requestStreamCancelled:
                code = .cancelled
            default:
                code = sent ? .transportError : .connectionFailed
            }
        case let error as IOError where [ECONNRESET, EPIPE, ECONNABORTED].contains(error.errnoCode):
            code = sent ? .connectionClosed : .connectionFailed
        case let error as ChannelError:
            switch error {
            case .connectTimeout: code = .connectionFailed
            case .ioOnClosedChannel, .alreadyClosed, .eof, .outputClosed: code = sent ? .connectionClosed : .connectionFailed
            default: code = sent ? .transportError : .connectionFailed
            }
        case is CancellationError:
            code = .cancelled
        default:
            code = sent ? .transportError : .connectionFailed
        }
        // Bounded here, cut short only once scrubbed (Bitrix24Error.scrubbed), so that no secret
        // is cut in half before the scrub can find it.
        let text = String(String(describing: error).prefix(2048))
        return Bitrix24Error(
            code: code, errorDescription: (sent ? "after sending: " : "before sending: ") + text,
            failureClass: sent ? .ambiguous : .notExecuted)
    }
}

/// Gathers one response on the event loop, at most `maxBytes` of body, and notes whether the
/// request head was written.
private final class CollectingDelegate: HTTPClientResponseDelegate {
    struct TooLarge: Error {
        var maxBytes: Int
    }

    private struct State {
        var sentHead = false
        /// Status and headers of every response head seen; more than one when an injected client
        /// follows redirects.
        var visited: [(status: Int, headers: HTTPHeaders)] = []
        var body = ByteBuffer()
    }

    let maxBytes: Int
    private let state = Mutex(State())

    init(maxBytes: Int) {
        self.maxBytes = maxBytes
    }

    var sentHead: Bool { state.withLock { $0.sentHead } }

    func didSendRequestHead(task: HTTPClient.Task<HTTPResponseData>, _ head: HTTPRequestHead) {
        state.withLock { $0.sentHead = true }
    }

    func didVisitURL(task: HTTPClient.Task<HTTPResponseData>, _ request: HTTPClient.Request, _ head: HTTPResponseHead) {
        state.withLock { $0.visited.append((Int(head.status.code), head.headers)) }
    }

    func didReceiveHead(task: HTTPClient.Task<HTTPResponseData>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        if !state.withLock({ $0.visited.count > 1 }), let length = head.headers.first(name: "content-length").flatMap(Int.init), length > maxBytes {
            return task.eventLoop.makeFailedFuture(TooLarge(maxBytes: maxBytes))
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<HTTPResponseData>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        let fits = state.withLock { state -> Bool in
            // After a followed redirect only the first hop is reported: its body is not needed.
            guard state.visited.count <= 1 else { return true }
            guard state.body.readableBytes + buffer.readableBytes <= maxBytes else { return false }
            var buffer = buffer
            state.body.writeBuffer(&buffer)
            return true
        }
        return fits ? task.eventLoop.makeSucceededVoidFuture() : task.eventLoop.makeFailedFuture(TooLarge(maxBytes: maxBytes))
    }

    func didFinishRequest(task: HTTPClient.Task<HTTPResponseData>) throws -> HTTPResponseData {
        try state.withLock { state in
            guard let last = state.visited.last else { throw HTTPClientError.remoteConnectionClosed }
            // An injected client configured to follow redirects turns a 302'd POST into a GET.
            // Report the first hop instead, so the caller re-POSTs itself.
            if state.visited.count > 1 {
                let first = state.visited[0]
                return HTTPResponseData(status: first.status, headers: first.headers)
            }
            return HTTPResponseData(status: last.status, headers: last.headers, body: Array(state.body.readableBytesView))
        }
    }
}
