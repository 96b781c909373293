/// A document that is not JSON: where reading stopped and why.
public struct JSONSyntaxError: Error, CustomStringConvertible, Sendable {
    public var offset: Int
    public var reason: String
    /// The document is JSON as far as read, but holds more values, or nesting, than allowed.
    public enum Limit: Sendable { case values, containers, depth }
    public var exceeded: Limit?
    public var description: String { "not JSON at byte \(offset): \(reason)" }
}

/// A direct JSON reader for `JSONValue`: one pass over the UTF-8 bytes, no `Decoder`
/// machinery. Every Bitrix24 answer and every claimed payload goes through it, so it is on
/// the delivery path's hot loop.
struct JSONParser {
    typealias SyntaxError = JSONSyntaxError

    /// Deeper nesting is refused rather than risking the stack.
    static let maxDepth = 512

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var depth = 0
    private let maxDepth: Int
    /// Scalars and empty containers left to read: reading stops at the first one too many.
    private var leavesLeft: Int
    /// Values of any kind left to read.
    private var valuesLeft: Int

    private init(_ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int, maxLeaves: Int, maxValues: Int) {
        self.bytes = bytes
        self.maxDepth = min(maxDepth, Self.maxDepth)
        self.leavesLeft = maxLeaves
        self.valuesLeft = maxValues
    }

    /// - Parameters:
    ///   - maxDepth: containers nested deeper are refused (never more than 512).
    ///   - maxLeaves: a document with more scalars and empty containers is refused as soon as
    ///     the parser reaches one too many, before building the rest.
    ///   - maxValues: the same for values of any kind, containers included.
    static func parse(
        _ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int = JSONParser.maxDepth, maxLeaves: Int = .max, maxValues: Int = .max
    ) throws(SyntaxError) -> JSONValue {
        var parser = JSONParser(bytes, maxDepth: maxDepth, maxLeaves: maxLeaves, maxValues: maxValues)
        parser.skipWhitespace()
        let value = try parser.value()
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.error("trailing characters") }
        return value
    }

    private func error(_ reason: String) -> SyntaxError {
        SyntaxError(offset: index, reason: reason)
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func leaf() throws(SyntaxError) {
        leavesLeft -= 1
        valuesLeft -= 1
        guard leavesLeft >= 0, valuesLeft >= 0 else {
            var error = error("too many values")
            error.exceeded = .values
            throw error
        }
    }

    private mutating func value() throws(SyntaxError) -> JSONValue {
        guard index < bytes.count else { throw error("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        default: break
        }
        try leaf()
        switch bytes[index] {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character")
        }
    }

    private mutating func literal(_ word: StaticString) throws(SyntaxError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("unexpected end") }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
            throw error("unknown literal")
        }
        index += count
    }

    private mutating func nested<T>(_ body: (inout JSONParser) throws(SyntaxError) -> T) throws(SyntaxError) -> T {
        depth += 1
        valuesLeft -= 1
        guard valuesLeft >= 0 else {
            var error = error("too many values")
            error.exceeded = .containers
            throw error
        }
        guard depth <= maxDepth else {
            var error = error("nested more than \(maxDepth) levels")
            error.exceeded = .depth
            throw error
        }
        defer { depth -= 1 }
        return try body(&self)
    }

    private mutating func object() throws(SyntaxError) -> JSONValue {
        try nested { (p: inout JSONParser) throws(SyntaxError) -> JSONValue in
            p.index += 1
            // Members are gathered first and hashed once into a dictionary of the right size:
            // growing it member by member rehashes every key at each doubling.
            var members: [(String, JSONValue)] = []
            p.skipWhitespace()
            if p.index < p.bytes.count, p.bytes[p.index] == UInt8(ascii: "}") {
                p.index += 1
                try p.leaf()
                return .object([:])
            }
            while true {
                p.skipWhitespace()
                guard p.index < p.bytes.count, p.bytes[p.index] == UInt8(ascii: "\"") else { throw p.error("expected a key") }
                let key = try p.string()
                p.skipWhitespace()
                guard p.index < p.bytes.count, p.bytes[p.index] == UInt8(ascii: ":") else { throw p.error("expected ':'") }
                p.index += 1
                p.skipWhitespace()
                members.append((key, try p.value()))
                p.skipWhitespace()
                guard p.index < p.bytes.count else { throw p.error("unexpected end") }
                switch p.bytes[p.index] {
                case UInt8(ascii: ","): p.index += 1
                case UInt8(ascii: "}"):
                    p.index += 1
                    // A repeated key keeps its last value, as JavaScript and PHP read it.
                    return .object(Dictionary(members, uniquingKeysWith: { _, last in last }))
                default: throw p.error("expected ',' or '}'")
                }
            }
        }
    }

    private mutating func array() throws(SyntaxError) -> JSONValue {
        try nested { (p: inout JSONParser) throws(SyntaxError) -> JSONValue in
            p.index += 1
            var elements: [JSONValue] = []
            p.skipWhitespace()
            if p.index < p.bytes.count, p.bytes[p.index] == UInt8(ascii: "]") {
                p.index += 1
                try p.leaf()
                return .array(elements)
            }
            while true {
                p.skipWhitespace()
                elements.append(try p.value())
                p.skipWhitespace()
                guard p.index < p.bytes.count else { throw p.error("unexpected end") }
                switch p.bytes[p.index] {
                case UInt8(ascii: ","): p.index += 1
                case UInt8(ascii: "]"): p.index += 1; return .array(elements)
                default: throw p.error("expected ',' or ']'")
                }
            }
        }
    }

    /// A string literal; the common case without escapes is one validated copy.
    private mutating func string() throws(SyntaxError) -> String {
        index += 1
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = String.validatingUTF8(UnsafeBufferPointer(rebasing: bytes[start..<index]))
                guard let text else { throw error("invalid UTF-8") }
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw error("control character in a string") }
            index += 1
        }
        // With escapes: collect the bytes, decoding each escape.
        var utf8 = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let text = utf8.withUnsafeBufferPointer(String.validatingUTF8) else { throw error("invalid UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw error("unexpected end") }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escaped)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"): utf8.append(contentsOf: String(Character(try unicodeEscape())).utf8)
                default: throw error("unknown escape")
                }
            default:
                if byte < 0x20 { throw error("control character in a string") }
                utf8.append(byte)
                index += 1
            }
        }
        throw error("unterminated string")
    }

    /// `\uXXXX`, joining a surrogate pair into one scalar; a lone surrogate is refused.
    private mutating func unicodeEscape() throws(SyntaxError) -> Unicode.Scalar {
        let first = try hex4()
        if (0xD800...0xDBFF).contains(first) {
            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                throw error("lone surrogate")
            }
            index += 2
            let second = try hex4()
            guard (0xDC00...0xDFFF).contains(second) else { throw error("lone surrogate") }
            return Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))!
        }
        guard let scalar = Unicode.Scalar(first) else { throw error("lone surrogate") }
        return scalar
    }

    private mutating func hex4() throws(SyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("unexpected end") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("bad \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// An integer that fits Int64 stays an integer, so ids survive exactly; anything else is a Double.
    private mutating func number() throws(SyntaxError) -> JSONValue {
        let start = index
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw error("bad number") }
        // The digits as one integer while they fit, for the fast paths below.
        var digits: UInt64 = 0
        var digitCount = 0
        func take(_ byte: UInt8) {
            if digitCount < 19 { digits = digits * 10 + UInt64(byte - UInt8(ascii: "0")) }
            digitCount += 1
        }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, isDigit(bytes[index]) { take(bytes[index]); index += 1 }
        }
        var integral = true
        var fractionDigits = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("bad number") }
            while index < bytes.count, isDigit(bytes[index]) { take(bytes[index]); fractionDigits += 1; index += 1 }
        }
        var exponent = false
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            integral = false
            exponent = true
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("bad number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if digitCount <= 18 {
            if integral { return .int(negative ? -Int64(digits) : Int64(digits)) }
            // Both the digits and the power of ten are exact doubles, so one division rounds
            // correctly (Clinger's fast path); Bitrix24's times and durations mostly fit it.
            if !exponent, digits <= 1 << 53, fractionDigits < Self.powersOfTen.count {
                let value = Double(digits) / Self.powersOfTen[fractionDigits]
                return .double(negative ? -value : value)
            }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if integral, let value = Int64(text) { return .int(value) }
        guard let value = Double(text), value.isFinite else { throw error("number out of range") }
        return .double(value)
    }

    /// 1e0 through 1e22: the powers of ten a double holds exactly.
    private static let powersOfTen: [Double] = (0...22).map { (0..<$0).reduce(1.0) { value, _ in value * 10 } }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}
