import Bitrix24Wire
import Foundation

/// The `filter` of `event.offline.get` and `event.offline.list`, read as the rest module's
/// `sanitizeFilter` reads it: keys upper-cased, the operation is the key's prefix before the
/// first letter, and only `'' = > < >= <= @ %` are allowed. Negation (`!`, `!=`) is not: the
/// portal refuses it ("Filter operation not allowed: !").
struct OfflineEventFilter: Sendable {
    enum Operation: String, Sendable {
        case plain = "", equal = "=", greater = ">", less = "<", greaterOrEqual = ">=", lessOrEqual = "<="
        case inList = "@", contains = "%"
    }

    struct Condition: Sendable {
        var operation: Operation
        var field: String
        var value: JSONValue
    }

    private(set) var conditions: [Condition] = []

    /// - Parameter fields: the fields the method filters on (`get` has fewer than `list`).
    init(_ raw: JSONValue?, fields: Set<String>) throws(PortalError) {
        let members: [String: JSONValue]
        switch raw {
        case nil, .null: return
        case .object(let dict): members = dict
        case .array(let items): members = Dictionary(uniqueKeysWithValues: items.enumerated().map { (String($0.offset), $0.element) })
        default: throw .argument("The filter is not an array.")
        }
        for (key, value) in members.sorted(by: { $0.key < $1.key }) {
            let upper = key.uppercased()
            let prefix = upper.prefix { !($0.isASCII && $0.isLetter) }
            let field = String(upper.dropFirst(prefix.count))
            guard let operation = Operation(rawValue: String(prefix)) else {
                throw .argument("Filter operation not allowed: \(prefix)")
            }
            guard fields.contains(field) else { throw .argument("Filter field not allowed: \(field)") }
            if field == "TIMESTAMP_X" {
                for item in value.arrayValue ?? [value] where Self.date(item) == nil {
                    throw .argument("Filter value of TIMESTAMP_X is not a date")
                }
            }
            conditions.append(Condition(operation: operation, field: field, value: value))
        }
    }

    func matches(_ record: Simulator.OfflineRecord) -> Bool {
        conditions.allSatisfy { condition in
            let stored = Self.key(condition.field, of: record)
            let wanted = (condition.value.arrayValue ?? [condition.value]).compactMap {
                Self.key(condition.field, value: $0)
            }
            switch condition.operation {
            case .plain, .equal, .inList: return wanted.contains(stored)
            case .greater: return wanted.first.map { stored > $0 } ?? false
            case .less: return wanted.first.map { stored < $0 } ?? false
            case .greaterOrEqual: return wanted.first.map { stored >= $0 } ?? false
            case .lessOrEqual: return wanted.first.map { stored <= $0 } ?? false
            case .contains: return wanted.contains { stored.contains($0) }
            }
        }
    }

    /// A field's value in a comparable form: numbers for ID and ERROR, whole seconds for
    /// TIMESTAMP_X (the column's precision), text compared case-insensitively (MySQL's collation).
    enum Key: Comparable, Sendable {
        case number(Int64)
        case text(String)

        func contains(_ other: Key) -> Bool {
            guard case .text(let haystack) = self, case .text(let needle) = other else { return self == other }
            return needle.isEmpty || haystack.contains(needle)
        }
    }

    static func key(_ field: String, of record: Simulator.OfflineRecord) -> Key {
        switch field {
        case "ID": return .number(record.id)
        case "ERROR": return .number(record.error ? 1 : 0)
        case "TIMESTAMP_X": return .number(Int64(record.timestamp.timeIntervalSince1970.rounded(.down)))
        case "EVENT_NAME": return .text(record.eventName.lowercased())
        case "MESSAGE_ID": return .text(record.messageID.lowercased())
        default: return .text(record.processID.lowercased())
        }
    }

    static func key(_ field: String, value: JSONValue) -> Key? {
        switch field {
        case "ID", "ERROR": return .number(PHPValue.int(value))
        case "TIMESTAMP_X": return date(value).map { .number(Int64($0.timeIntervalSince1970.rounded(.down))) }
        default: return .text((value.stringValue ?? "").lowercased())
        }
    }

    /// An ATOM time as the portal prints it (`2026-11-23T10:00:00+03:00`).
    static func date(_ value: JSONValue) -> Date? {
        value.stringValue.flatMap { try? Date($0, strategy: .iso8601) }
    }
}

/// The `order` of the `event.offline.*` methods: `{"FIELD": "ASC"|"DESC"}` or `["FIELD"]`.
/// JSON objects carry no key order here, so several keys apply in alphabetical order; ties
/// fall back to ID, ascending.
struct OfflineEventOrder: Sendable {
    private(set) var keys: [(field: String, ascending: Bool)]

    init(_ field: String) { keys = [(field, true)] }

    init(_ raw: JSONValue?, default fallback: String, fields: Set<String>) throws(PortalError) {
        var pairs: [(String, String)] = []
        switch raw {
        case nil, .null: keys = [(fallback, true)]; return
        case .object(let dict): pairs = dict.sorted { $0.key < $1.key }.map { ($0.key.uppercased(), $0.value.stringValue ?? "") }
        case .array(let items): pairs = items.map { (($0.stringValue ?? "").uppercased(), "ASC") }
        default: throw .argument("The order is not an array.")
        }
        keys = []
        for (field, direction) in pairs {
            guard fields.contains(field) else { throw .argument("Order field not allowed: \(field)") }
            guard ["ASC", "DESC"].contains(direction.uppercased()) else {
                throw .argument("Order direction should be one of {ASC|DESC}")
            }
            keys.append((field, direction.uppercased() == "ASC"))
        }
    }

    func sorted(_ records: [Simulator.OfflineRecord]) -> [Simulator.OfflineRecord] {
        records.sorted { a, b in
            for (field, ascending) in keys {
                // Sub-second precision keeps a re-queued record behind older ones of the same second.
                let left = field == "TIMESTAMP_X" ? a.timestamp.timeIntervalSince1970 : 0
                let right = field == "TIMESTAMP_X" ? b.timestamp.timeIntervalSince1970 : 0
                if left != right { return ascending == (left < right) }
                let x = OfflineEventFilter.key(field, of: a), y = OfflineEventFilter.key(field, of: b)
                if x != y { return ascending == (x < y) }
            }
            return a.id < b.id
        }
    }
}
