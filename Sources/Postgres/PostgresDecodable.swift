import Foundation

/// A Swift type that can be read from a column in PostgreSQL's text format.
public protocol PostgresDecodable {
    /// Builds the value from the column's text (nil for NULL); throws when the text does not fit.
    static func decode(postgresText text: String?, type: PostgresType, column: String) throws -> Self
}

/// Non-optional types: NULL is an error, the rest is up to `init?(postgresText:)`.
protocol PostgresNonNullDecodable: PostgresDecodable {
    init?(postgresText: String, type: PostgresType)
}

extension PostgresNonNullDecodable {
    public static func decode(postgresText text: String?, type: PostgresType, column: String) throws -> Self {
        guard let text else {
            throw PostgresDecodingError(column: column, reason: "is NULL; decode it as an Optional")
        }
        guard let value = Self(postgresText: text, type: type) else {
            throw PostgresDecodingError(column: column, reason: "is not a valid \(Self.self)")
        }
        return value
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(postgresText text: String?, type: PostgresType, column: String) throws -> Self {
        guard let text else { return nil }
        return try Wrapped.decode(postgresText: text, type: type, column: column)
    }
}

extension String: PostgresNonNullDecodable {
    init?(postgresText: String, type: PostgresType) { self = postgresText }
}

extension Int: PostgresNonNullDecodable {
    init?(postgresText: String, type: PostgresType) { self.init(postgresText) }
}

extension Int64: PostgresNonNullDecodable {
    init?(postgresText: String, type: PostgresType) { self.init(postgresText) }
}

extension Int32: PostgresNonNullDecodable {
    init?(postgresText: String, type: PostgresType) { self.init(postgresText) }
}

extension Bool: PostgresNonNullDecodable {
    init?(postgresText: String, type: PostgresType) {
        switch postgresText {
        case "t": self = true
        case "f": self = false
        default: return nil
        }
    }
}

extension Double: PostgresNonNullDecodable {
    init?(postgresText: String, type: PostgresType) {
        switch postgresText {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default: self.init(postgresText)
        }
    }
}

extension Date: PostgresNonNullDecodable {
    init?(postgresText: String, type: PostgresType) {
        guard let date = Timestamp.parse(postgresText) else { return nil }
        self = date
    }
}

extension JSONB: PostgresNonNullDecodable {
    init?(postgresText: String, type: PostgresType) { self.init(postgresText) }
}

extension ByteA: PostgresNonNullDecodable {
    /// bytea's text output in the (default) hex format: `\x0aff…`.
    init?(postgresText: String, type: PostgresType) {
        let utf8 = Array(postgresText.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0
        else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity((utf8.count - 2) / 2)
        var i = 2
        while i < utf8.count {
            guard let hi = Self.hexValue(utf8[i]), let lo = Self.hexValue(utf8[i + 1]) else { return nil }
            bytes.append(hi << 4 | lo)
            i += 2
        }
        self.init(bytes)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
