import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// `HTTPTransport` over AsyncHTTPClient.
///
/// It knows whether a request may have reached the server by handing AsyncHTTPClient the body
/// as a one-element stream and noting when that element is pulled: a failure before the pull
/// means nothing was sent (connection refused, DNS, TLS, pool timeout), so it is `.notExecuted`;
/// any later failure is `.ambiguous`.
struct AsyncHTTPClientTransport: HTTPTransport {
    let client: HTTPClient
    let maxResponseBytes: Int

    func send(_ request: HTTPRequestData, timeout: Duration) async throws(Bitrix24Error) -> HTTPResponseData {
        var outgoing = HTTPClientRequest(url: request.url.absoluteString)
        outgoing.method = request.method
        outgoing.headers = request.headers
        let marker = SendMarker()
        if let body = request.body {
            outgoing.body = .stream(MarkingBody(bytes: ByteBuffer(bytes: body), marker: marker), length: .known(Int64(body.count)))
        } else {
            // Nothing to pull: a GET counts as sent once it is handed over.
            await marker.mark()
        }
        do {
            let response = try await client.execute(outgoing, timeout: TimeAmount(timeout))
            // An injected client configured to follow redirects turns a 302'd POST into a GET.
            // Report the first hop instead, so the caller re-POSTs itself.
            if response.history.count > 1, let first = response.history.first {
                _ = try? await response.body.collect(upTo: maxResponseBytes)
                return HTTPResponseData(status: Int(first.responseHead.status.code), headers: first.responseHead.headers)
            }
            let buffer = try await response.body.collect(upTo: maxResponseBytes)
            return HTTPResponseData(
                status: Int(response.status.code), headers: response.headers, body: Array(buffer.readableBytesView))
        } catch let error as NIOTooManyBytesError {
            throw Bitrix24Error(
                code: .responseTooLarge, errorDescription: "the response exceeded \(error.maxBytes ?? maxResponseBytes) bytes")
        } catch {
            throw Self.classify(error, sent: await marker.started)
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
        // Library errors name hosts and errnos, never our paths, but keep them short anyway.
        let text = String(String(describing: error).prefix(200))
        return Bitrix24Error(
            code: code, errorDescription: (sent ? "after sending: " : "before sending: ") + text,
            failureClass: sent ? .ambiguous : .notExecuted)
    }
}

/// Remembers whether AsyncHTTPClient started reading the request body.
private actor SendMarker {
    private(set) var started = false
    func mark() { started = true }
}

/// The request body as a one-element stream that marks when it is pulled.
private struct MarkingBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let bytes: ByteBuffer
    let marker: SendMarker

    struct AsyncIterator: AsyncIteratorProtocol {
        var bytes: ByteBuffer?
        let marker: SendMarker

        mutating func next() async -> ByteBuffer? {
            guard let chunk = bytes else { return nil }
            bytes = nil
            await marker.mark()
            return chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(bytes: bytes, marker: marker) }
}
