import Bitrix24Wire
import Foundation

/// The order in which a request lists the keys of `cmd`. Batch commands run in that order,
/// but the parsed parameters are dictionaries, which forget it; so it is read off the raw
/// body (JSON) or the raw pairs (form and query string).
enum CommandOrder {
    /// `cmd[key]=…` pairs in the order they appear.
    static func fromForm(_ text: String) -> [String] {
        text.split(separator: "&").compactMap { pair -> String? in
            let rawKey = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
            guard let key = try? PHPForm.percentDecode(rawKey), key.hasPrefix("cmd["),
                let close = key.firstIndex(of: "]")
            else { return nil }
            return String(key[key.index(key.startIndex, offsetBy: 4)..<close])
        }
    }

    /// Keys of the object that is the value of the top-level member `cmd`, in document order.
    static func fromJSON(_ bytes: [UInt8]) -> [String] {
        var scanner = JSONScanner(bytes: bytes)
        return scanner.memberKeys(of: "cmd") ?? []
    }
}

/// Just enough of a JSON reader to walk a document and read object keys in order.
private struct JSONScanner {
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipSpace() {
        while let b = peek, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { index += 1 }
    }

    private mutating func expect(_ byte: UInt8) -> Bool {
        skipSpace()
        guard peek == byte else { return false }
        index += 1
        return true
    }

    mutating func memberKeys(of name: String) -> [String]? {
        guard expect(UInt8(ascii: "{")) else { return nil }
        while true {
            skipSpace()
            if peek == UInt8(ascii: "}") { return nil }
            guard let key = readString(), expect(UInt8(ascii: ":")) else { return nil }
            skipSpace()
            if key == name { return peek == UInt8(ascii: "{") ? readKeys() : nil }
            guard skipValue(), expect(UInt8(ascii: ",")) else { return nil }
        }
    }

    private mutating func readKeys() -> [String]? {
        guard expect(UInt8(ascii: "{")) else { return nil }
        var keys: [String] = []
        while true {
            skipSpace()
            if peek == UInt8(ascii: "}") { return keys }
            guard let key = readString(), expect(UInt8(ascii: ":")) else { return keys }
            keys.append(key)
            skipSpace()
            guard skipValue() else { return keys }
            skipSpace()
            if peek == UInt8(ascii: ",") { index += 1 } else { return keys }
        }
    }

    /// A string token, unescaped by the JSON parser itself.
    private mutating func readString() -> String? {
        let start = index
        guard skipString() else { return nil }
        return (try? JSONValue(jsonData: bytes[start..<index]))?.stringValue
    }

    /// Steps over a string token without reading it (a command's text, fifty to a batch).
    private mutating func skipString() -> Bool {
        skipSpace()
        guard peek == UInt8(ascii: "\"") else { return false }
        index += 1
        while let b = peek, b != UInt8(ascii: "\"") { index += b == UInt8(ascii: "\\") ? 2 : 1 }
        guard index < bytes.count else { return false }
        index += 1
        return true
    }

    private mutating func skipValue() -> Bool {
        skipSpace()
        guard let first = peek else { return false }
        if first == UInt8(ascii: "\"") { return skipString() }
        if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
            var depth = 0
            while let b = peek {
                if b == UInt8(ascii: "\"") {
                    guard skipString() else { return false }
                    continue
                }
                if b == UInt8(ascii: "{") || b == UInt8(ascii: "[") { depth += 1 }
                if b == UInt8(ascii: "}") || b == UInt8(ascii: "]") { depth -= 1 }
                index += 1
                if depth == 0 { return true }
            }
            return false
        }
        while let b = peek, b != UInt8(ascii: ","), b != UInt8(ascii: "}"), b != UInt8(ascii: "]") { index += 1 }
        return true
    }
}
