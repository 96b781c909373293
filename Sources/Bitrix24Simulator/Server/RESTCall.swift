import Bitrix24Wire
import Foundation

/// How a REST request authenticated itself, before the portal checked it.
enum Credentials: Sendable, Equatable {
    /// `/rest/<user>/<code>/METHOD`.
    case webhook(userID: String, code: String)
    /// `/rest/METHOD` with `auth=` or `Authorization: Bearer` (nil when neither was sent).
    case token(String?)
}

/// The caller once authenticated.
struct Caller: Sendable {
    var userID: Int64
    /// The OAuth application's client id; nil for webhooks.
    var clientID: String?

    /// Namespace of notification tags: the application, or the webhook's `CLIENT_ID`.
    func tagNamespace(_ params: [String: JSONValue]) -> String? {
        clientID ?? params["CLIENT_ID"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// One REST request, parsed: what the portal needs to run it.
struct RESTCall: Sendable {
    /// Lower-case method name without `.json`.
    var method: String
    var params: [String: JSONValue]
    var credentials: Credentials
    /// When the request arrived (the `start` of its time block).
    var received: Date
    /// For `batch`: the keys of `cmd` in the order the caller wrote them (dictionaries forget it).
    var commandOrder: [String] = []
}

/// What the portal answers to a REST request.
struct Reply: Sendable {
    var status: Int
    /// The body as JSON text.
    var json: [UInt8]

    init(status: Int, body: JSONValue) {
        self.status = status
        json = body.jsonBytes()
    }

    /// A body written as JSON text already (a batch's, which keeps its commands' order).
    init(status: Int, json: [UInt8]) {
        self.status = status
        self.json = json
    }

    static func error(_ error: PortalError) -> Reply { Reply(status: error.status, body: error.body) }
}

/// PHP's reading of request values: `intval` and truthiness, since form bodies send strings.
enum PHPValue {
    /// `intval`: leading whitespace, an optional sign, then digits; anything else is 0.
    static func int(_ value: JSONValue?) -> Int64 {
        switch value {
        case .int(let i): return i
        case .double(let d): return d.isFinite && abs(d) < 9.2e18 ? Int64(d) : 0
        case .bool(let b): return b ? 1 : 0
        case .string(let s):
            var digits = Substring(s.drop { $0 == " " || $0 == "\t" || $0 == "\n" })
            var sign: Int64 = 1
            if let first = digits.first, first == "-" || first == "+" {
                sign = first == "-" ? -1 : 1
                digits = digits.dropFirst()
            }
            let number = digits.prefix { $0.isASCII && $0.isNumber }
            return (Int64(number) ?? 0) * sign
        default: return 0
        }
    }

    /// PHP's `empty()` of a string: "" and "0".
    static func isEmpty(_ text: String) -> Bool { text.isEmpty || text == "0" }

    /// A scalar as text; arrays and objects are not text.
    static func string(_ value: JSONValue?) -> String? {
        guard let value else { return nil }
        return value.stringValue
    }

    /// PHP truthiness of a flag such as `halt`: "", "0", 0, false and null are false.
    static func bool(_ value: JSONValue?) -> Bool {
        guard let value else { return false }
        switch value {
        case .bool(let b): return b
        case .string(let s): return !(s.isEmpty || s == "0" || s.lowercased() == "false")
        case .null: return false
        default: return int(value) != 0 || value.arrayValue?.isEmpty == false
        }
    }

    /// Keys upper-cased, as the im module reads its parameters.
    static func upperKeys(_ params: [String: JSONValue]) -> [String: JSONValue] {
        // Clients mostly send upper-case keys already: then there is nothing to rebuild.
        if params.keys.allSatisfy(isUpperCase) { return params }
        var out: [String: JSONValue] = [:]
        for (key, value) in params where out[key.uppercased()] == nil || key == key.uppercased() {
            out[key.uppercased()] = value
        }
        return out
    }

    /// Whether `key.uppercased()` would return `key` itself, read off its bytes where it is ASCII.
    private static func isUpperCase(_ key: String) -> Bool {
        key.utf8.allSatisfy { $0 < 0x80 && !($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) }
            || key == key.uppercased()
    }

    /// PHP's `json_encode` of an array, written into `json`: keys exactly 0…n-1 in order make
    /// a list, no keys make `[]`, anything else an object with its members in the order given,
    /// as PHP keeps them. The keys must be distinct.
    static func write<Value>(
        _ pairs: [(String, Value)], into json: inout JSONWriter, value: (Value, inout JSONWriter) -> Void
    ) {
        let list = isList(pairs)
        json.raw(list ? "[" : "{")
        for (offset, (key, member)) in pairs.enumerated() {
            if offset > 0 { json.raw(",") }
            if !list {
                json.string(key)
                json.raw(":")
            }
            value(member, &json)
        }
        json.raw(list ? "]" : "}")
    }

    private static func isList<Value>(_ pairs: [(String, Value)]) -> Bool {
        pairs.enumerated().allSatisfy { $0.element.0 == String($0.offset) }
    }
}
