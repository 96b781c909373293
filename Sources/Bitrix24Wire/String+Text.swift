import Foundation

extension String {
    /// `trimmingCharacters(in: .whitespaces)`, without Foundation's cost in the common case of
    /// nothing to trim (every command of every batch passes through here).
    public var trimmingWhitespace: String {
        guard let first = utf8.first, let last = utf8.last else { return self }
        if Self.isPlainByte(first) && Self.isPlainByte(last) { return self }
        return trimmingCharacters(in: .whitespaces)
    }

    /// Whether the string has a character outside `.whitespacesAndNewlines`.
    public var hasVisibleCharacters: Bool {
        if let first = utf8.first, Self.isPlainByte(first) { return true }
        return unicodeScalars.contains { !CharacterSet.whitespacesAndNewlines.contains($0) }
    }

    /// An ASCII byte that is not whitespace: a string starting and ending with one has nothing to trim.
    private static func isPlainByte(_ byte: UInt8) -> Bool {
        byte > 0x20 && byte < 0x7F
    }
}

extension String {
    /// The text of UTF-8 bytes, or nil when they are not valid UTF-8. ASCII, the common case
    /// for keys and values on the wire, skips the generic validating initializer's cost.
    static func validatingUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var high: UInt8 = 0
        for byte in bytes { high |= byte }
        if high < 0x80 { return String(decoding: bytes, as: UTF8.self) }
        return String(validating: bytes, as: UTF8.self)
    }
}
