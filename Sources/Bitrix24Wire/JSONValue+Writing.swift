/// Compact JSON for `JSONValue`, keys sorted so the output never depends on dictionary order
/// (unless `sortsKeys` is off, for readers that order keys themselves).
/// Written by hand for the same reason as `JSONParser`: it runs for every delivery outcome.
package struct JSONWriter {
    package private(set) var bytes: [UInt8] = []
    /// False writes an object's members in dictionary order: for documents whose reader keeps
    /// its own order (jsonb), where sorting would be wasted work.
    package var sortsKeys = true

    package init(capacity: Int = 256, sortsKeys: Bool = true) {
        bytes.reserveCapacity(capacity)
        self.sortsKeys = sortsKeys
    }

    package mutating func write(_ value: JSONValue) {
        switch value {
        case .null: append("null")
        case .bool(let b): append(b ? "true" : "false")
        case .int(let i): int(i)
        case .double(let d): double(d)
        case .string(let s): string(s)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (offset, element) in elements.enumerated() {
                if offset > 0 { bytes.append(UInt8(ascii: ",")) }
                write(element)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            var first = true
            if sortsKeys {
                // Sorting the pairs, not the keys, spares a hash lookup per member.
                for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                    writeMember(key, member, first: &first)
                }
            } else {
                for (key, member) in members { writeMember(key, member, first: &first) }
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    /// `base`'s members with `added` written in, as one object in dictionary order (see
    /// `JSONValue.jsonbArrayText`): for writers that do not sort keys.
    package mutating func object(_ base: JSONValue, adding added: [(String, JSONValue)]) {
        assert(!sortsKeys, "object(_:adding:) writes members unsorted")
        func isAdded(_ key: String) -> Bool { added.contains { $0.0 == key } }
        bytes.append(UInt8(ascii: "{"))
        var first = true
        switch base {
        case .object(let members):
            for (key, member) in members where !isAdded(key) { writeMember(key, member, first: &first) }
        case .null:
            break
        default:
            if !isAdded("value") { writeMember("value", base, first: &first) }
        }
        for (key, value) in added { writeMember(key, value, first: &first) }
        bytes.append(UInt8(ascii: "}"))
    }

    private mutating func writeMember(_ key: String, _ value: JSONValue, first: inout Bool) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        string(key)
        bytes.append(UInt8(ascii: ":"))
        write(value)
    }

    /// Bytes that are JSON already (punctuation of a document written piece by piece).
    package mutating func raw(_ text: StaticString) {
        append(text)
    }

    package mutating func int(_ i: Int64) {
        bytes.append(contentsOf: String(i).utf8)
    }

    private mutating func append(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Non-finite numbers have no JSON form and are written as null; an integral value keeps
    /// its ".0", so it reads back as a Double.
    package mutating func double(_ d: Double) {
        guard d.isFinite else { return append("null") }
        bytes.append(contentsOf: d.description.utf8)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A string literal, quoted and escaped.
    package mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            // Copies the runs between characters that need escaping in one go.
            var run = 0
            for i in utf8.indices {
                let byte = utf8[i]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[run..<i]))
                run = i + 1
                switch byte {
                case UInt8(ascii: "\""): append("\\\"")
                case UInt8(ascii: "\\"): append("\\\\")
                case 0x0A: append("\\n")
                case 0x0D: append("\\r")
                case 0x09: append("\\t")
                case 0x08: append("\\b")
                case 0x0C: append("\\f")
                default:
                    append("\\u00")
                    bytes.append(Self.hexDigits[Int(byte >> 4)])
                    bytes.append(Self.hexDigits[Int(byte & 0xF)])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[run...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
