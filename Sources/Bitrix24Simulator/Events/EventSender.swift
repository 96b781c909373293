import AsyncHTTPClient
import Foundation
import NIOCore

/// Posts inbound events to an application's handler the way Bitrix24 does: one POST,
/// `application/x-www-form-urlencoded`, no retry (Bitrix24 never resends a failed event).
public struct EventSender: Sendable {
    public var httpClient: HTTPClient
    public var timeout: Duration

    public init(httpClient: HTTPClient = .shared, timeout: Duration = .seconds(10)) {
        self.httpClient = httpClient
        self.timeout = timeout
    }

    /// Sends the event and returns the handler's HTTP status. Transport failures throw.
    @discardableResult
    public func send(_ event: OutgoingDialogFinish, to url: URL) async throws -> Int {
        try await send(formBody: event.formBody, to: url)
    }

    @discardableResult
    public func send(formBody: String, to url: URL) async throws -> Int {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "User-Agent", value: "Bitrix24 Webhook Engine")
        request.body = .bytes(ByteBuffer(string: formBody))
        let response = try await httpClient.execute(request, timeout: .nanoseconds(Int64(timeout.inSeconds * 1e9)))
        // Read the answer so the connection can be reused; its content does not matter.
        _ = try await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }
}
