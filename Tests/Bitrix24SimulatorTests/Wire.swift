import AsyncHTTPClient
import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Foundation
import NIOCore
import NIOHTTP1

/// Raw HTTP to the simulator, with no client logic in between: what goes over the wire is
/// exactly what the test writes.
enum Wire {
    /// Never follows redirects: a 302 must reach the test as it is.
    static let client = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup,
        configuration: .init(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5))))

    struct Answer: Sendable {
        var status: Int
        var contentType: String?
        var location: String?
        var text: String
        var json: JSONValue? { try? JSONValue(jsonData: Array(text.utf8)) }
        var result: JSONValue? { json?["result"] }
        var error: String? { json?["error"]?.stringValue }
    }

    static func send(
        _ url: String, method: HTTPMethod = .POST, body: String? = nil, contentType: String? = nil,
        // Generous: while the suite's database tests hold the concurrency pool's two threads,
        // an answer can wait that long to be written; a test of a slow answer passes its own.
        headers: [(String, String)] = [], timeout: Duration = .seconds(60)
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: .milliseconds(Int64(timeout / .milliseconds(1))))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return Answer(
            status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type"),
            location: response.headers.first(name: "Location"), text: String(buffer: bytes))
    }

    /// POST with a JSON body.
    static func json(_ url: String, _ params: JSONValue, headers: [(String, String)] = []) async throws -> Answer {
        try await send(url, body: params.jsonString, contentType: "application/json", headers: headers)
    }

    /// POST with a PHP-bracket form body.
    static func form(_ url: String, _ params: [String: JSONValue]) async throws -> Answer {
        try await send(url, body: PHPForm.encode(params), contentType: "application/x-www-form-urlencoded")
    }

    static func get(_ url: String) async throws -> Answer { try await send(url, method: .GET) }
}

extension Simulator {
    /// The webhook URL of a method, as text.
    func hook(_ method: String) -> String { webhookURL.absoluteString + method }
    /// The OAuth URL of a method, as text.
    func oauth(_ method: String) -> String { restURL.absoluteString + method }

    /// A simulator for one test, stopped when `body` ends.
    static func with<T: Sendable>(
        _ configure: (inout Configuration) -> Void = { _ in },
        _ body: (Simulator) async throws -> T
    ) async throws -> T {
        var configuration = Configuration()
        configure(&configuration)
        return try await Simulator.run(configuration, body)
    }
}
