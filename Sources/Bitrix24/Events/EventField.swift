import Bitrix24Wire

/// Reads event fields that arrive as strings in forms and as numbers in JSON.
///
/// Absent (or null) is nil; present with the wrong shape is an error naming the field.
enum EventField {
    static func int(_ value: JSONValue?, at path: String) throws(Bitrix24Event.DecodingError) -> Int64? {
        guard let value, value != .null else { return nil }
        guard let int = value.intValue else { throw Bitrix24Event.DecodingError("\(path) must be an integer") }
        return int
    }

    static func requiredInt(_ value: JSONValue?, at path: String) throws(Bitrix24Event.DecodingError) -> Int64 {
        guard let int = try int(value, at: path) else { throw Bitrix24Event.DecodingError("missing \(path)") }
        return int
    }

    static func string(_ value: JSONValue?, at path: String) throws(Bitrix24Event.DecodingError) -> String? {
        guard let value, value != .null else { return nil }
        switch value {
        case .string(let s): return s
        case .int, .double: return value.stringValue
        default: throw Bitrix24Event.DecodingError("\(path) must be text")
        }
    }

    static func requiredString(_ value: JSONValue?, at path: String) throws(Bitrix24Event.DecodingError) -> String {
        guard let s = try string(value, at: path), !s.isEmpty else { throw Bitrix24Event.DecodingError("missing \(path)") }
        return s
    }

    /// Bitrix24 flags: `Y`/`N`; also `1`/`0`, `true`/`false` and JSON booleans.
    static func bool(_ value: JSONValue?, at path: String) throws(Bitrix24Event.DecodingError) -> Bool? {
        guard let value, value != .null else { return nil }
        if case .bool(let b) = value { return b }
        switch value.stringValue?.uppercased() {
        case "Y", "1", "TRUE": return true
        case "N", "0", "FALSE", "": return false
        default: throw Bitrix24Event.DecodingError("\(path) must be Y or N")
        }
    }

    static func object(_ value: JSONValue?, at path: String) throws(Bitrix24Event.DecodingError) -> JSONValue? {
        guard let value, value != .null else { return nil }
        guard case .object = value else { throw Bitrix24Event.DecodingError("\(path) must be an object") }
        return value
    }

    /// A list that PHP may have written as an object with keys "0", "1", … (in index order).
    static func list(_ value: JSONValue?, at path: String) throws(Bitrix24Event.DecodingError) -> [JSONValue] {
        switch value {
        case nil, .null?: return []
        case .array(let items)?: return items
        case .object(let members)?:
            var indexed: [(Int, JSONValue)] = []
            for (key, item) in members {
                guard let index = Int(key) else { throw Bitrix24Event.DecodingError("\(path) must be a list") }
                indexed.append((index, item))
            }
            return indexed.sorted { $0.0 < $1.0 }.map(\.1)
        default:
            throw Bitrix24Event.DecodingError("\(path) must be a list")
        }
    }

    static let tokenKeys: Set<String> = [
        "access_token", "refresh_token", "application_token", "auth_id", "refresh_id", "client_secret",
    ]

    static func strippingTokens(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let members):
            var kept: [String: JSONValue] = [:]
            for (key, member) in members where !tokenKeys.contains(key.lowercased()) {
                kept[key] = strippingTokens(member)
            }
            return .object(kept)
        case .array(let items):
            return .array(items.map(strippingTokens))
        default:
            return value
        }
    }
}
