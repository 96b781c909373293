import Bitrix24Wire
import Foundation

/// A successful answer: `result` and `time` from the envelope, plus what the client observed.
public struct Bitrix24Response: Sendable, Hashable {
    public var method: String
    public var result: JSONValue
    public var time: Bitrix24Time?
    /// List methods: the total count and the offset of the next page.
    public var total: Int64?
    public var next: Int64?
    public var httpStatus: Int
    /// Wall time of the HTTP exchange as this client measured it (including a redirect, if any).
    public var elapsed: Duration
    /// Set when the portal answered with a redirect to a new address (a renamed portal); the
    /// client uses that address from now on.
    public var portalMovedTo: URL?

    public init(
        method: String, result: JSONValue, time: Bitrix24Time? = nil, total: Int64? = nil, next: Int64? = nil,
        httpStatus: Int = 200, elapsed: Duration = .zero, portalMovedTo: URL? = nil
    ) {
        self.method = method
        self.result = result
        self.time = time
        self.total = total
        self.next = next
        self.httpStatus = httpStatus
        self.elapsed = elapsed
        self.portalMovedTo = portalMovedTo
    }
}

extension Bitrix24Response {
    /// Reads an envelope. A JSON `error` wins over everything; a body that is neither an error
    /// nor a 2xx `result` (an HTML page from a proxy, say) becomes `INVALID_RESPONSE`, classified
    /// by status since there is no code: 5xx and 2xx ambiguous, 429 rate limited, other 4xx
    /// permanent. Never throws anything but `Bitrix24Error`.
    package static func decode(
        method: String, status: Int, contentType: String? = nil, body: [UInt8], secrets: [String] = []
    ) throws(Bitrix24Error) -> Bitrix24Response {
        guard let json = try? JSONValue(jsonData: body) else {
            throw invalidResponse(method: method, status: status, contentType: contentType, body: body, what: "a non-JSON body", secrets: secrets)
        }
        if let error = envelopeError(json, method: method, status: status) { throw error }
        guard (200..<300).contains(status), let result = json["result"] else {
            throw invalidResponse(method: method, status: status, contentType: contentType, body: body, what: "JSON that is not a Bitrix24 envelope", secrets: secrets)
        }
        return Bitrix24Response(
            method: method, result: result, time: json["time"].flatMap(Bitrix24Time.init(json:)),
            total: json["total"]?.intValue, next: json["next"]?.intValue, httpStatus: status)
    }

    /// The error an envelope carries, if any: `{"error": "CODE", "error_description": "…"}`.
    static func envelopeError(_ json: JSONValue, method: String?, status: Int?) -> Bitrix24Error? {
        guard let raw = json["error"]?.stringValue, !raw.isEmpty else { return nil }
        let code = Bitrix24Error.Code(raw)
        let resetIn = Bitrix24Time.operatingResetIn(in: json["time"])
        return Bitrix24Error(
            code: code, errorDescription: json["error_description"]?.stringValue, httpStatus: status, method: method,
            failureClass: .classify(code: code, httpStatus: status, operatingResetIn: resetIn))
    }

    static func invalidResponse(
        method: String?, status: Int, contentType: String?, body: [UInt8], what: String, secrets: [String] = []
    ) -> Bitrix24Error {
        let failureClass: Bitrix24Error.FailureClass
        switch status {
        case 429: failureClass = .rateLimited
        case 400..<500: failureClass = .permanent
        default: failureClass = .ambiguous
        }
        var text = "the server answered with \(what)"
        if let contentType, !contentType.isEmpty { text += " (\(contentType.prefix(60)))" }
        let excerpt = Redactor.excerpt(of: body, secrets: secrets)
        text += excerpt.isEmpty ? ", empty" : ": \(excerpt)"
        return Bitrix24Error(
            code: .invalidResponse, errorDescription: text, httpStatus: status, method: method, failureClass: failureClass)
    }
}
