/// PHP's form encoding with bracket keys, as Bitrix24 writes and reads it.
///
/// `encode` follows `http_build_query` (RFC 1738 `urlencode`: space as `+`, brackets
/// percent-encoded, `true` as 1, `false` as 0, nulls left out). `decode` follows `parse_str`:
/// `a[b][0]=x` nests, `a[]=x` appends, and an object whose keys are exactly 0…n-1 becomes a list.
/// Every decoded scalar is a string, as PHP sees it.
public enum PHPForm {
    public struct DecodingError: Error, CustomStringConvertible, Equatable {
        /// What kind of refusal: the body is malformed, or holds more than the limits allow.
        public struct Code: Sendable, Hashable, CustomStringConvertible {
            public let description: String
            public init(_ description: String) { self.description = description }
            public static let malformed = Code("malformed")
            public static let tooManyPairs = Code("too_many_pairs")
            public static let tooDeep = Code("too_deep")
            public static let tooManyKeys = Code("too_many_keys")
        }

        public var code: Code
        public var reason: String
        public init(code: Code = .malformed, reason: String) {
            self.code = code
            self.reason = reason
        }
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

    /// How much a body may hold. Decoding costs time linear in the body whatever its shape;
    /// these bound what a stranger can make the decoder build.
    public struct Limits: Sendable, Hashable {
        /// `name=value` pairs at most (PHP's `max_input_vars`).
        public var maxPairs: Int
        /// Bracket levels in one name at most (PHP's `max_input_nesting_level`).
        public var maxDepth: Int
        /// Keys the whole form may create, groups and values (`a[b][]=1` creates three): what
        /// bounds the tree a body can make the decoder build.
        public var maxKeys: Int

        public init(maxPairs: Int, maxDepth: Int = PHPForm.maxDepth, maxKeys: Int? = nil) {
            self.maxPairs = maxPairs
            self.maxDepth = maxDepth
            let tenfold = maxPairs.multipliedReportingOverflow(by: 10)
            self.maxKeys = maxKeys ?? (tenfold.overflow ? .max : tenfold.partialValue)
        }

        /// For bodies from our own side (REST calls to the simulator, batch commands): only
        /// the size of the body bounds them.
        public static let generous = Limits(maxPairs: 1_000_000, maxKeys: .max)
    }

    public static func decode(_ body: String, limits: Limits = .generous) throws(DecodingError) -> [String: JSONValue] {
        // Read as UTF-8 bytes: the simulator decodes every command of every batch this way.
        var body = body
        return try body.withUTF8 { bytes in Result { () throws(DecodingError) -> [String: JSONValue] in
            var tree = Tree(maxKeys: limits.maxKeys)
            var pairs = 0
            var pairStart = 0
            while pairStart < bytes.count {
                let pairEnd = bytes[pairStart...].firstIndex(of: UInt8(ascii: "&")) ?? bytes.count
                defer { pairStart = pairEnd + 1 }
                guard pairEnd > pairStart else { continue }
                pairs += 1
                guard pairs <= limits.maxPairs else {
                    throw DecodingError(code: .tooManyPairs, reason: "more than \(limits.maxPairs) fields")
                }
                let pair = UnsafeBufferPointer(rebasing: bytes[pairStart..<pairEnd])
                let equals = pair.firstIndex(of: UInt8(ascii: "="))
                let key = try percentDecode(bytes: UnsafeBufferPointer(rebasing: pair[..<(equals ?? pair.count)]))
                let value = try equals.map { (at) throws(DecodingError) in
                    try percentDecode(bytes: UnsafeBufferPointer(rebasing: pair[(at + 1)...]))
                } ?? ""
                try tree.insert(value, at: try parseKey(key, maxDepth: limits.maxDepth))
            }
            return tree.root
        } }.get()
    }

    /// `+` is a space; `%XX` a byte; the bytes must form UTF-8.
    public static func percentDecode(_ text: Substring) throws(DecodingError) -> String {
        var text = text
        return try text.withUTF8 { bytes in Result { () throws(DecodingError) in try percentDecode(bytes: bytes) } }.get()
    }

    private static func percentDecode(bytes text: UnsafeBufferPointer<UInt8>) throws(DecodingError) -> String {
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
    private static func parseKey(_ key: String, maxDepth: Int) throws(DecodingError) -> [String?] {
        var key = key
        return try key.withUTF8 { bytes in Result { () throws(DecodingError) -> [String?] in
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
                guard path.count <= maxDepth + 1 else {
                    throw DecodingError(code: .tooDeep, reason: "names nested deeper than \(maxDepth) levels")
                }
            }
            return path
        } }.get()
    }

    /// The form under construction: groups live in one array and refer to each other by index,
    /// so an insert walks its path once and copies nothing, and each group keeps its highest
    /// index (for PHP's `a[]`) instead of searching its keys for it.
    private struct Tree {
        enum Member { case leaf(String), group(Int) }
        struct Group {
            var members: [String: Member] = [:]
            /// The highest integer key so far: `a[]` appends after it (or at 0).
            var highestIndex: Int?
        }

        var groups = [Group()]
        /// Keys that may still be created.
        var keysLeft: Int

        init(maxKeys: Int) {
            keysLeft = maxKeys
        }

        mutating func newKey() throws(DecodingError) {
            keysLeft -= 1
            guard keysLeft >= 0 else { throw DecodingError(code: .tooManyKeys, reason: "more keys than a form may have") }
        }

        mutating func insert(_ value: String, at path: [String?]) throws(DecodingError) {
            var group = 0
            for (level, segment) in path.enumerated() {
                let key: String
                let highest = groups[group].highestIndex
                if let segment {
                    key = segment
                    if let index = Int(segment), highest.map({ index > $0 }) ?? true { groups[group].highestIndex = index }
                } else {
                    let next = highest.map { $0.addingReportingOverflow(1) } ?? (partialValue: 0, overflow: false)
                    guard !next.overflow else { throw DecodingError(reason: "no index is left to append to") }
                    key = String(next.partialValue)
                    groups[group].highestIndex = next.partialValue
                }
                if level == path.count - 1 {
                    switch groups[group].members[key] {
                    case .group?: throw Self.clash
                    case .leaf?: break
                    case nil: try newKey()
                    }
                    groups[group].members[key] = .leaf(value)
                    return
                }
                switch groups[group].members[key] {
                case .group(let child)?:
                    group = child
                case .leaf?:
                    throw Self.clash
                case nil:
                    try newKey()
                    groups.append(Group())
                    groups[group].members[key] = .group(groups.count - 1)
                    group = groups.count - 1
                }
            }
        }

        static let clash = DecodingError(reason: "a key is used both as a value and as a group")

        var root: [String: JSONValue] {
            guard case .object(let members) = json(0) else { return [:] }
            return members
        }

        /// A group whose keys are exactly 0…n-1 is a list, as PHP sees it.
        func json(_ index: Int) -> JSONValue {
            let members = groups[index].members
            func value(_ member: Member) -> JSONValue {
                switch member {
                case .leaf(let text): .string(text)
                case .group(let child): json(child)
                }
            }
            let count = members.count
            if index != 0, count > 0, (0..<count).allSatisfy({ members[String($0)] != nil }) {
                return .array((0..<count).map { value(members[String($0)]!) })
            }
            return .object(members.mapValues(value))
        }
    }
}
