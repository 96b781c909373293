import Bitrix24Wire
import Foundation
import Logging
import NIOHTTP1

@testable import Bitrix24

/// An in-memory transport: answers with `handler` and records every request.
struct FakeTransport: HTTPTransport {
    let log = RequestLog()
    let handler: @Sendable (HTTPRequestData) async throws(Bitrix24Error) -> HTTPResponseData

    func send(_ request: HTTPRequestData, timeout: Duration) async throws(Bitrix24Error) -> HTTPResponseData {
        await log.append(request)
        return try await handler(request)
    }
}

actor RequestLog {
    private(set) var requests: [HTTPRequestData] = []
    func append(_ request: HTTPRequestData) { requests.append(request) }
    var count: Int { requests.count }
}

/// Counts things from concurrent tasks.
actor Counter {
    private(set) var value = 0
    private(set) var items: [String] = []
    func increment(_ item: String = "") {
        value += 1
        items.append(item)
    }
}

extension HTTPRequestData {
    var bodyJSON: JSONValue? { body.flatMap { try? JSONValue(jsonData: $0) } }
    var bodyText: String { body.map { String(decoding: $0, as: UTF8.self) } ?? "" }
}

func jsonResponse(_ status: Int, _ json: String) -> HTTPResponseData {
    HTTPResponseData(status: status, headers: ["Content-Type": "application/json"], body: Array(json.utf8))
}

func jsonResponse(_ json: String) -> HTTPResponseData { jsonResponse(200, json) }

/// A log handler that keeps every rendered line, to check that no secret is ever logged.
final class CapturingLogHandler: LogHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    var lines: [String] { lock.withLock { storage } }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let rendered = "\(event.level) \(event.message) \(fields)"
        lock.withLock { storage.append(rendered) }
    }
}


/// Every way a value can be printed or dumped.
func allRenderings(_ value: Any) -> String {
    var dumped = ""
    dump(value, to: &dumped)
    return [String(describing: value), String(reflecting: value), dumped].joined(separator: "\n")
}
