import Foundation

/// A JSON value as Bitrix24 sends and takes it: request parameters, `result` payloads, events.
///
/// Numbers keep the integer/float distinction so ids survive a round trip exactly.
/// Objects are unordered; encoders sort keys so their output is deterministic.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

extension JSONValue {
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public subscript(index: Int) -> JSONValue? {
        if case .array(let items) = self, items.indices.contains(index) { return items[index] }
        return nil
    }

    /// The value as text, the way PHP would print a scalar (`true` is "1", `false` is "").
    public var stringValue: String? {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .bool(let b): return b ? "1" : ""
        case .null, .array, .object: return nil
        }
    }

    /// The value as an integer: an int, an integral double, or a string of digits (form bodies
    /// carry every scalar as a string).
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d): return d.rounded() == d && abs(d) < 9.2e18 ? Int64(d) : nil
        case .string(let s): return Int64(s.trimmingWhitespace)
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .string(let s): return Double(s.trimmingWhitespace)
        default: return nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    public var isNull: Bool { self == .null }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? container.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? container.decode(Double.self) {
            self = .double(d)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let a = try? container.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .int(let i): try container.encode(i)
        case .double(let d): if d.isFinite { try container.encode(d) } else { try container.encodeNil() }
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }
}

extension JSONValue {
    /// Parses text read as a `String` (a database column) in place, without a copy into `Data`.
    public init(jsonText text: String) throws {
        var text = text
        self = try text.withUTF8 { try JSONParser.parse($0) }
    }

    /// Parses a JSON document of at most `maxLeaves` scalars and empty containers and
    /// `maxValues` values in all, nested at most `maxDepth` deep; refuses one over the limits as
    /// soon as it reaches it.
    package init(jsonBytes bytes: [UInt8], maxDepth: Int, maxLeaves: Int, maxValues: Int) throws(JSONSyntaxError) {
        self = try bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(JSONSyntaxError) in
                try JSONParser.parse(buffer, maxDepth: maxDepth, maxLeaves: maxLeaves, maxValues: maxValues)
            }
        }.get()
    }

    /// Parses a JSON document; throws on anything that is not JSON (an HTML error page, say).
    public init(jsonData data: some DataProtocol) throws {
        if let value = try data.withContiguousStorageIfAvailable({ try JSONParser.parse($0) }) {
            self = value
        } else {
            self = try Array(data).withUnsafeBufferPointer { try JSONParser.parse($0) }
        }
    }

    /// Compact JSON with sorted keys.
    public func jsonData() -> Data {
        Data(jsonBytes())
    }

    /// Compact JSON with sorted keys, as UTF-8 bytes.
    public func jsonBytes() -> [UInt8] {
        var writer = JSONWriter()
        writer.write(self)
        return writer.bytes
    }

    public var jsonString: String { String(decoding: jsonBytes(), as: UTF8.self) }

    /// Objects as one compact JSON array: each is `base`'s members with `added` written in (an
    /// added key replaces the base's; a base that is not an object becomes `{"value": …}`, null
    /// becomes `{}`), keys in dictionary order. For a jsonb parameter, which orders keys itself;
    /// no merged dictionary is built on the way (it runs for every recorded outcome).
    public static func jsonbArrayText(_ objects: [(base: JSONValue, added: [(String, JSONValue)])]) -> String {
        var writer = JSONWriter(capacity: 512 * objects.count, sortsKeys: false)
        writer.raw("[")
        for (offset, object) in objects.enumerated() {
            if offset > 0 { writer.raw(",") }
            writer.object(object.base, adding: object.added)
        }
        writer.raw("]")
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}
