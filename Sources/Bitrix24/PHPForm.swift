/// PHP's form encoding with bracket keys, as Bitrix24 writes and reads it.
///
/// `encode` follows `http_build_query` (RFC 1738 `urlencode`: space as `+`, brackets
/// percent-encoded, `true` as 1, `false` as 0, nulls left out). `decode` follows `parse_str`:
/// `a[b][0]=x` nests, `a[]=x` appends, and an object whose keys are exactly 0…n-1 becomes a list.
/// Every decoded scalar is a string, as PHP sees it.
public enum PHPForm {
    public struct DecodingError: Error, CustomStringConvertible, Equatable {
        public var reason: String
        public var description: String { "malformed form body: \(reason)" }
    }

    /// Nesting deeper than PHP's `max_input_nesting_level` is refused.
    public static let maxDepth = 64

    // MARK: Encoding

    public static func encode(_ params: [String: JSONValue]) -> String {
        var pairs: [String] = []
        for key in params.keys.sorted() {
            appendPairs(name: percentEncode(key), value: params[key]!, into: &pairs)
        }
        return pairs.joined(separator: "&")
    }

    private static func appendPairs(name: String, value: JSONValue, into pairs: inout [String]) {
        switch value {
        case .null:
            return
        case .array(let items):
            for (i, item) in items.enumerated() {
                appendPairs(name: "\(name)%5B\(i)%5D", value: item, into: &pairs)
            }
        case .object(let members):
            for key in members.keys.sorted() {
                appendPairs(name: "\(name)%5B\(percentEncode(key))%5D", value: members[key]!, into: &pairs)
            }
        case .bool(let b):
            pairs.append("\(name)=\(b ? "1" : "0")")
        default:
            pairs.append("\(name)=\(percentEncode(value.stringValue ?? ""))")
        }
    }

    /// PHP `urlencode`: alphanumerics and `-_.` stay, space becomes `+`, the rest is `%XX`.
    public static func percentEncode(_ text: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                out.append(byte)
            case UInt8(ascii: " "):
                out.append(UInt8(ascii: "+"))
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    // MARK: Decoding

    public static func decode(_ body: String) throws -> [String: JSONValue] {
        var root = Node.object([:])
        for pair in body.split(separator: "&", omittingEmptySubsequences: true) {
            let (rawKey, rawValue) = splitOnce(pair, at: "=")
            let key = try percentDecode(rawKey)
            let value = try percentDecode(rawValue ?? "")
            let path = try parseKey(key)
            try root.insert(value, at: path[...])
        }
        guard case .object(let members) = root else { return [:] }
        return members.mapValues(\.json)
    }

    private static func splitOnce(_ s: Substring, at separator: Character) -> (Substring, Substring?) {
        guard let i = s.firstIndex(of: separator) else { return (s, nil) }
        return (s[..<i], s[s.index(after: i)...])
    }

    /// `+` is a space; `%XX` a byte; the bytes must form UTF-8.
    public static func percentDecode(_ text: Substring) throws -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(text.utf8.count)
        var it = text.utf8.makeIterator()
        while let byte = it.next() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let hi = it.next().flatMap(hexValue), let lo = it.next().flatMap(hexValue) else {
                    throw DecodingError(reason: "invalid percent-encoding")
                }
                bytes.append(hi << 4 | lo)
            default:
                bytes.append(byte)
            }
        }
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw DecodingError(reason: "text is not valid UTF-8")
        }
        return string
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// `data[DATA][0][x]` → ["data", "DATA", "0", "x"]; an empty segment (`a[]`) is nil (append).
    private static func parseKey(_ key: String) throws -> [String?] {
        guard let open = key.firstIndex(of: "[") else {
            guard !key.isEmpty else { throw DecodingError(reason: "empty key") }
            return [key]
        }
        let base = String(key[..<open])
        guard !base.isEmpty else { throw DecodingError(reason: "key starts with a bracket") }
        var path: [String?] = [base]
        var rest = key[open...]
        while !rest.isEmpty {
            guard rest.first == "[", let close = rest.firstIndex(of: "]") else {
                throw DecodingError(reason: "unbalanced brackets in key")
            }
            let segment = rest[rest.index(after: rest.startIndex)..<close]
            path.append(segment.isEmpty ? nil : String(segment))
            rest = rest[rest.index(after: close)...]
            guard path.count <= maxDepth else { throw DecodingError(reason: "nesting deeper than \(maxDepth)") }
        }
        return path
    }

    /// A tree under construction.
    private indirect enum Node {
        case leaf(String)
        case object([String: Node])

        mutating func insert(_ value: String, at path: ArraySlice<String?>) throws {
            guard case .object(var members) = self else {
                throw DecodingError(reason: "a key is used both as a value and as a group")
            }
            let key = path.first! ?? String(Self.nextIndex(members))
            let rest = path.dropFirst()
            if rest.isEmpty {
                if case .object = members[key] {
                    throw DecodingError(reason: "a key is used both as a value and as a group")
                }
                members[key] = .leaf(value)
            } else {
                var child = members[key] ?? .object([:])
                try child.insert(value, at: rest)
                members[key] = child
            }
            self = .object(members)
        }

        static func nextIndex(_ members: [String: Node]) -> Int {
            (members.keys.compactMap { Int($0) }.max() ?? -1) + 1
        }

        var json: JSONValue {
            switch self {
            case .leaf(let s):
                return .string(s)
            case .object(let members):
                let count = members.count
                if count > 0, (0..<count).allSatisfy({ members[String($0)] != nil }) {
                    return .array((0..<count).map { members[String($0)]!.json })
                }
                return .object(members.mapValues(\.json))
            }
        }
    }
}
