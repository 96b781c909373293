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
        // Written as bytes: the worker encodes every command of every batch.
        var out: [UInt8] = []
        out.reserveCapacity(256)
        var name: [UInt8] = []
        for (key, value) in params.sorted(by: { $0.key < $1.key }) {
            name.removeAll(keepingCapacity: true)
            percentEncode(key, into: &name)
            appendPairs(name: &name, value: value, into: &out)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `name=value` pairs (after a `&` unless first); `name` is restored on return.
    private static func appendPairs(name: inout [UInt8], value: JSONValue, into out: inout [UInt8]) {
        func pair(_ write: (inout [UInt8]) -> Void) {
            if !out.isEmpty { out.append(UInt8(ascii: "&")) }
            out.append(contentsOf: name)
            out.append(UInt8(ascii: "="))
            write(&out)
        }
        let length = name.count
        defer { name.removeSubrange(length...) }
        switch value {
        case .null:
            return
        case .array(let items):
            for (i, item) in items.enumerated() {
                name.removeSubrange(length...)
                name.append(contentsOf: "%5B\(i)%5D".utf8)
                appendPairs(name: &name, value: item, into: &out)
            }
        case .object(let members):
            for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                name.removeSubrange(length...)
                name.append(contentsOf: "%5B".utf8)
                percentEncode(key, into: &name)
                name.append(contentsOf: "%5D".utf8)
                appendPairs(name: &name, value: member, into: &out)
            }
        case .bool(let b):
            pair { $0.append(b ? UInt8(ascii: "1") : UInt8(ascii: "0")) }
        default:
            pair { percentEncode(value.stringValue ?? "", into: &$0) }
        }
    }

    /// PHP `urlencode`: alphanumerics and `-_.` stay, space becomes `+`, the rest is `%XX`.
    public static func percentEncode(_ text: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        percentEncode(text, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static func percentEncode(_ text: String, into out: inout [UInt8]) {
        var text = text
        text.withUTF8 { bytes in
            // Every batch command's fields pass through here: one table lookup per byte, and
            // room for the worst case (every byte as %XX) made once.
            let start = out.count
            let (kinds, hex) = (unreservedOrSpace, hexDigits)
            out.append(contentsOf: repeatElement(0, count: bytes.count * 3))
            let written = out.withUnsafeMutableBufferPointer { buffer in
                var at = start
                for byte in bytes {
                    switch kinds[Int(byte)] {
                    case 1:
                        buffer[at] = byte
                        at += 1
                    case 2:
                        buffer[at] = UInt8(ascii: "+")
                        at += 1
                    default:
                        buffer[at] = UInt8(ascii: "%")
                        buffer[at + 1] = hex[Int(byte >> 4)]
                        buffer[at + 2] = hex[Int(byte & 0x0F)]
                        at += 3
                    }
                }
                return at
            }
            out.removeLast(out.count - written)
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)
    /// Per byte: 1 stays as it is (alphanumerics and `-_.`), 2 is the space (`+`), 0 is `%XX`.
    private static let unreservedOrSpace: [UInt8] = (0...255).map { byte -> UInt8 in
        switch UInt8(byte) {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."): 1
        case UInt8(ascii: " "): 2
        default: 0
        }
    }

    // MARK: Decoding

    public static func decode(_ body: String) throws -> [String: JSONValue] {
        // Read as UTF-8 bytes: the simulator decodes every command of every batch this way.
        var body = body
        return try body.withUTF8 { bytes in
            var root: [String: Node] = [:]
            var pairStart = 0
            while pairStart <= bytes.count {
                let pairEnd = bytes[pairStart...].firstIndex(of: UInt8(ascii: "&")) ?? bytes.count
                defer { pairStart = pairEnd + 1 }
                guard pairEnd > pairStart else { continue }
                let pair = UnsafeBufferPointer(rebasing: bytes[pairStart..<pairEnd])
                let equals = pair.firstIndex(of: UInt8(ascii: "="))
                let key = try percentDecode(bytes: UnsafeBufferPointer(rebasing: pair[..<(equals ?? pair.count)]))
                let value = equals.map { UnsafeBufferPointer(rebasing: pair[($0 + 1)...]) }
                try insert(try value.map(percentDecode(bytes:)) ?? "", at: try parseKey(key), into: &root)
            }
            return root.mapValues(\.json)
        }
    }

    /// `+` is a space; `%XX` a byte; the bytes must form UTF-8.
    public static func percentDecode(_ text: Substring) throws -> String {
        var text = text
        return try text.withUTF8(percentDecode(bytes:))
    }

    private static func percentDecode(bytes text: UnsafeBufferPointer<UInt8>) throws -> String {
        // Most keys and values need no decoding: validate and copy them as they are.
        if !text.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "%") }) {
            guard let string = String.validatingUTF8(text) else {
                throw DecodingError(reason: "text is not valid UTF-8")
            }
            return string
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            let byte = text[i]
            i += 1
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard i + 1 < text.count, let hi = hexValue(text[i]), let lo = hexValue(text[i + 1]) else {
                    throw DecodingError(reason: "invalid percent-encoding")
                }
                bytes.append(hi << 4 | lo)
                i += 2
            default:
                bytes.append(byte)
            }
        }
        guard let string = bytes.withUnsafeBufferPointer(String.validatingUTF8) else {
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
    /// Brackets are found as bytes, so a combining mark after one does not hide it.
    private static func parseKey(_ key: String) throws -> [String?] {
        var key = key
        return try key.withUTF8 { bytes in
            func text(_ range: Range<Int>) -> String {
                // Cut at ASCII brackets only, so every piece is valid UTF-8 still.
                String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
            }
            guard let open = bytes.firstIndex(of: UInt8(ascii: "[")) else {
                guard !bytes.isEmpty else { throw DecodingError(reason: "empty key") }
                return [text(0..<bytes.count)]
            }
            guard open > 0 else { throw DecodingError(reason: "key starts with a bracket") }
            var path: [String?] = [text(0..<open)]
            var index = open
            while index < bytes.count {
                guard bytes[index] == UInt8(ascii: "["),
                    let close = bytes[(index + 1)...].firstIndex(of: UInt8(ascii: "]"))
                else {
                    throw DecodingError(reason: "unbalanced brackets in key")
                }
                path.append(close == index + 1 ? nil : text((index + 1)..<close))
                index = close + 1
                guard path.count <= maxDepth else { throw DecodingError(reason: "nesting deeper than \(maxDepth)") }
            }
            return path
        }
    }

    /// Puts one decoded pair into the top level of the form.
    private static func insert(_ value: String, at path: [String?], into root: inout [String: Node]) throws {
        var top = Node.object(root)
        root = [:]  // `top` holds the only reference, so the insert below changes it in place
        try top.insert(value, at: path[...])
        guard case .object(let members) = top else { return }
        root = members
    }

    /// A tree under construction.
    private indirect enum Node {
        case leaf(String)
        case object([String: Node])

        mutating func insert(_ value: String, at path: ArraySlice<String?>) throws {
            guard case .object(var members) = self else {
                throw DecodingError(reason: "a key is used both as a value and as a group")
            }
            self = .leaf("")  // drop this reference to `members`, so changing it copies nothing
            let key = path.first! ?? String(Self.nextIndex(members))
            let rest = path.dropFirst()
            if rest.isEmpty {
                if case .object = members[key] {
                    throw DecodingError(reason: "a key is used both as a value and as a group")
                }
                members[key] = .leaf(value)
            } else {
                var child = members.removeValue(forKey: key) ?? .object([:])
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
