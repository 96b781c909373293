import Foundation
import NIOHTTP1

/// One HTTP exchange, as the client needs it: a request, fully buffered, and a response.
///
/// The seam exists so the client's logic (refresh, redirects, classification) can be exercised
/// in memory; production uses `AsyncHTTPClientTransport`.
package protocol HTTPTransport: Sendable {
    /// Throws only classified errors: `.notExecuted` when the request never left this process,
    /// `.ambiguous` when it may have reached the server.
    func send(_ request: HTTPRequestData, timeout: Duration) async throws(Bitrix24Error) -> HTTPResponseData
}

package struct HTTPRequestData: Sendable {
    package var method: HTTPMethod
    package var url: URL
    package var headers: HTTPHeaders
    package var body: [UInt8]?

    package init(method: HTTPMethod, url: URL, headers: HTTPHeaders = [:], body: [UInt8]? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

package struct HTTPResponseData: Sendable {
    package var status: Int
    package var headers: HTTPHeaders
    package var body: [UInt8]

    package init(status: Int, headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

extension Duration {
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
