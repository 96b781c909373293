import Bitrix24Wire
import Foundation

/// An event Bitrix24 POSTs to an application's handler, decoded from a PHP-bracket form body
/// (what Bitrix24 sends) or from JSON.
///
/// Events carry the portal's access and refresh tokens: `withoutTokens()` is the form to store,
/// and `description` never shows a token.
public struct Bitrix24Event: Sendable, Hashable {
    /// The event name, upper-cased (`ONIMCONNECTORDIALOGFINISH`).
    public var event: String
    /// `event_handler_id`, or `eventId` as some documentation pages spell it.
    public var eventHandlerID: Int64?
    public var data: JSONValue
    /// When Bitrix24 sent the event (Unix seconds).
    public var ts: Int64?
    public var auth: Auth
    /// Every top-level field as received, tokens included.
    public var fields: [String: JSONValue]

    public struct DecodingError: Error, Sendable, Hashable, CustomStringConvertible {
        /// Malformed, or larger than the limits: a caller answers them differently (400, 413).
        public struct Code: Sendable, Hashable, CustomStringConvertible {
            public let description: String
            public init(_ description: String) { self.description = description }
            public static let malformed = Code("malformed")
            public static let tooManyFields = Code("too_many_fields")
        }

        public var code: Code
        public var reason: String
        public init(_ reason: String, code: Code = .malformed) {
            self.reason = reason
            self.code = code
        }
        public var description: String { "malformed Bitrix24 event: \(reason)" }
    }

    /// What one event may hold, in a form or in JSON: real events hold a few dozen fields, and
    /// PHP itself reads at most 1,000 (`max_input_vars`) nested at most 64 levels; and at most
    /// 10,000 keys (groups and values) in all.
    public static let defaultLimits = PHPForm.Limits(maxPairs: 1_000)

    /// The `auth` block: who sent the event, and the tokens to verify and to call back with.
    public struct Auth: Sendable, Hashable {
        public var domain: String?
        public var memberID: String?
        /// Compare with the stored one in constant time: it is the only proof of origin.
        public var applicationToken: String?
        public var accessToken: String?
        public var refreshToken: String?
        public var expiresIn: Int64?
        public var scope: String?
        public var serverEndpoint: String?
        public var clientEndpoint: String?
        public var status: String?
    }

    /// Decodes `application/x-www-form-urlencoded` with PHP bracket keys.
    public init(formBody: String, limits: PHPForm.Limits = Bitrix24Event.defaultLimits) throws(DecodingError) {
        let fields: [String: JSONValue]
        do {
            fields = try PHPForm.decode(formBody, limits: limits)
        } catch {
            throw DecodingError(error.reason, code: [.tooManyPairs, .tooManyKeys].contains(error.code) ? .tooManyFields : .malformed)
        }
        try self.init(fields: fields)
    }

    /// Decodes a JSON object, held to the same limits as a form: values (the pairs a form would
    /// have) and nesting.
    public init(jsonBody: some DataProtocol, limits: PHPForm.Limits = Bitrix24Event.defaultLimits) throws(DecodingError) {
        // Counted while parsing, so a body of many small values is refused before it is built.
        // A form's name `a[b]` is a value one level inside the body's object: the depth is one more.
        let json: JSONValue
        do {
            json = try JSONValue(
                jsonBytes: Array(jsonBody), maxDepth: limits.maxDepth + 1, maxLeaves: limits.maxPairs, maxValues: limits.maxKeys)
        } catch where error.exceeded == .values {
            throw DecodingError("more than \(limits.maxPairs) fields", code: .tooManyFields)
        } catch where error.exceeded == .containers {
            throw DecodingError("more keys than an event may have", code: .tooManyFields)
        } catch where error.exceeded == .depth {
            throw DecodingError("values nested deeper than \(limits.maxDepth) levels")
        } catch {
            throw DecodingError("the body is not JSON")
        }
        guard case .object(let fields) = json else { throw DecodingError("the JSON body is not an object") }
        try self.init(fields: fields)
    }

    /// Decodes by content type: JSON for `application/json`, else a form; without a content
    /// type, a body starting with `{` is taken as JSON.
    public init(
        body: some DataProtocol, contentType: String?, limits: PHPForm.Limits = Bitrix24Event.defaultLimits
    ) throws(DecodingError) {
        let bytes = Array(body)
        let type = contentType?.lowercased() ?? ""
        let firstByte = bytes.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
        if type.contains("json") || (type.isEmpty && firstByte == UInt8(ascii: "{")) {
            try self.init(jsonBody: bytes, limits: limits)
        } else {
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw DecodingError("the form body is not UTF-8")
            }
            try self.init(formBody: text, limits: limits)
        }
    }

    public init(fields: [String: JSONValue]) throws(DecodingError) {
        guard let name = fields["event"] else { throw DecodingError("missing event") }
        guard let event = name.stringValue?.trimmingCharacters(in: .whitespaces), (1...64).contains(event.utf8.count),
            event.utf8.allSatisfy({ $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0 & 0xDF) })
        else { throw DecodingError("event must be a name of at most 64 letters, digits and '_'") }
        self.event = event.uppercased()
        self.eventHandlerID = try EventField.int(fields["event_handler_id"] ?? fields["eventId"], at: "event_handler_id")
        self.data = fields["data"] ?? .null
        self.ts = try EventField.int(fields["ts"], at: "ts")
        self.auth = try Auth(fields["auth"])
        self.fields = fields
    }

    /// The event as received, minus every token (`access_token`, `refresh_token`,
    /// `application_token` and the like, at any depth): what may be written to the log.
    public func withoutTokens() -> JSONValue {
        EventField.strippingTokens(.object(fields))
    }
}

extension JSONValue {
    /// This value minus every token (`access_token`, `refresh_token`, `application_token` and
    /// the like, at any depth).
    public func withoutTokens() -> JSONValue {
        EventField.strippingTokens(self)
    }
}

extension Bitrix24Event.Auth {
    init(_ value: JSONValue?) throws(Bitrix24Event.DecodingError) {
        switch value {
        case nil, .null?:
            break
        case .object?:
            break
        default:
            throw Bitrix24Event.DecodingError("auth must be an object")
        }
        func text(_ key: String) throws(Bitrix24Event.DecodingError) -> String? {
            try EventField.string(value?[key], at: "auth.\(key)")
        }
        domain = try text("domain")
        memberID = try text("member_id")
        applicationToken = try text("application_token")
        accessToken = try text("access_token")
        refreshToken = try text("refresh_token")
        expiresIn = try EventField.int(value?["expires_in"], at: "auth.expires_in")
        scope = try text("scope")
        serverEndpoint = try text("server_endpoint")
        clientEndpoint = try text("client_endpoint")
        status = try text("status")
    }
}

extension Bitrix24Event.Auth {
    /// Whether `application_token` equals the token stored for the portal, compared in time
    /// independent of where the first difference is. An empty or missing token never matches.
    public func applicationTokenMatches(_ expected: String) -> Bool {
        guard let applicationToken, !expected.isEmpty else { return false }
        let actual = Array(applicationToken.utf8)
        let wanted = Array(expected.utf8)
        var difference: UInt8 = actual.count == wanted.count ? 0 : 1
        for i in 0..<max(actual.count, wanted.count) {
            difference |= (i < actual.count ? actual[i] : 0) ^ (i < wanted.count ? wanted[i] : 0)
        }
        return difference == 0
    }
}

extension Bitrix24Event: CustomStringConvertible {
    public var description: String {
        var parts = [event]
        if let eventHandlerID { parts.append("handler \(eventHandlerID)") }
        if let domain = auth.domain { parts.append("from \(domain)") }
        if let ts { parts.append("ts \(ts)") }
        return "Bitrix24Event(\(parts.joined(separator: ", ")))"
    }
}

extension Bitrix24Event: CustomReflectable {
    public var customMirror: Mirror {
        Mirror(self, children: ["event": event, "eventHandlerID": eventHandlerID as Any, "ts": ts as Any, "auth": auth, "data": data])
    }
}

extension Bitrix24Event.Auth: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        var parts: [String] = []
        if let domain { parts.append("domain: \(domain)") }
        if let memberID { parts.append("memberID: \(memberID)") }
        for (name, token) in [("applicationToken", applicationToken), ("accessToken", accessToken), ("refreshToken", refreshToken)]
        where token != nil {
            parts.append("\(name): ***")
        }
        return "Auth(\(parts.joined(separator: ", ")))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: ["domain": domain as Any, "memberID": memberID as Any, "scope": scope as Any, "tokens": "***"])
    }
}
