import Bitrix24Simulator
import Bitrix24Wire
import Foundation
import Testing

@Suite struct PHPFormTests {
    // MARK: Examples

    @Test func encodesLikeHttpBuildQuery() {
        #expect(PHPForm.encode(["a": "x y", "b": true, "c": false, "d": nil, "e": 1.5, "f": 2.0, "g": "~-_.*"]) == "a=x+y&b=1&c=0&e=1.5&f=2&g=%7E-_.%2A")
        #expect(PHPForm.encode(["USERS": [1, 10]]) == "USERS%5B0%5D=1&USERS%5B1%5D=10")
        #expect(PHPForm.encode(["A": [:], "B": []]) == "")
    }

    @Test func decodesLikeParseStr() throws {
        let fields = try PHPForm.decode("data[DATA][0][x]=1&data[DATA][1][x]=2&a[]=p&a[]=q&s=a+b%26c&empty=&flag")
        #expect(fields["data"] == ["DATA": [["x": "1"], ["x": "2"]]])
        #expect(fields["a"] == ["p", "q"])
        #expect(fields["s"] == "a b&c")
        #expect(fields["empty"] == "")
        #expect(fields["flag"] == "")
        #expect(try PHPForm.decode("m[1]=a&m[0]=b")["m"] == ["b", "a"])
        #expect(try PHPForm.decode("m[0]=a&m[2]=b")["m"] == ["0": "a", "2": "b"])
        #expect(try PHPForm.decode("a=1&a=2")["a"] == "2")
        #expect(try PHPForm.decode("&&x=%C3%A9+%2B&&y==1&") == ["x": "é +", "y": "=1"])
        #expect(try PHPForm.decode("m[a]=1&m[b][]=2&m[b][]=3&m[a]=4") == ["m": ["a": "4", "b": ["2", "3"]]])
        #expect(try PHPForm.decode("") == [:])
        // A bracket followed by a combining mark is still a bracket (PHP reads bytes).
        #expect(try PHPForm.decode("a[%CC%81x]=1&b%5B%5D=%C3%A9") == ["a": ["\u{301}x": "1"], "b": ["é"]])
    }

    @Test func trimsWhitespaceAsFoundationDoes() {
        for text in ["", " ", "a", " a", "a\t", "\u{00A0}a\u{2003}", "im.notify", " im.notify ", "é", "a b"] {
            #expect(text.trimmingWhitespace == text.trimmingCharacters(in: .whitespaces), "\(text.debugDescription)")
        }
        #expect(" \n\u{3000}".hasVisibleCharacters == false)
        #expect(" \n x".hasVisibleCharacters)
    }

    @Test(arguments: ["a=%zz", "a=%E", "[x]=1", "a[b=1", "a=1&a[b]=2", "a[b]=1&a=2", "a=%FF%FE", "=1"])
    func refusesMalformedBodies(body: String) {
        #expect(throws: PHPForm.DecodingError.self) { try PHPForm.decode(body) }
    }

    @Test func refusesExcessiveNesting() {
        let key = "a" + String(repeating: "[x]", count: PHPForm.maxDepth + 1)
        #expect(throws: PHPForm.DecodingError.self) { try PHPForm.decode("\(key)=1") }
    }

    // MARK: Property: decode(encode(v)) == v with scalars stringified

    @Test(arguments: 0..<8)
    func roundTripsRandomValues(batch: Int) throws {
        for i in 0..<100 {
            let seed = UInt64(batch * 1000 + i)
            var generator = SeededGenerator(seed: seed)
            var value: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                value[Self.randomKey(&generator)] = Self.randomValue(depth: 0, &generator)
            }
            let encoded = PHPForm.encode(value)
            let decoded = try PHPForm.decode(encoded)
            let expected = value.compactMapValues(Self.expectedAfterRoundTrip)
            #expect(decoded == expected, "seed \(seed): \(encoded)")
            // The encoding is plain ASCII without reserved characters left bare.
            #expect(encoded.utf8.allSatisfy { $0 < 0x80 && $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "[") })
        }
    }

    /// What PHP keeps of a value through http_build_query and parse_str: scalars become strings
    /// (true "1", false "0"), nulls and empty arrays vanish, and keys 0…n-1 make a list.
    static func expectedAfterRoundTrip(_ value: JSONValue) -> JSONValue? {
        switch value {
        case .null: return nil
        case .bool(let b): return .string(b ? "1" : "0")
        case .int, .double, .string: return .string(value.stringValue!)
        case .array(let items):
            var members: [String: JSONValue] = [:]
            for (i, item) in items.enumerated() { members[String(i)] = expectedAfterRoundTrip(item) }
            return container(members)
        case .object(let members):
            return container(members.compactMapValues(expectedAfterRoundTrip))
        }
    }

    static func container(_ members: [String: JSONValue]) -> JSONValue? {
        if members.isEmpty { return nil }
        let count = members.count
        if (0..<count).allSatisfy({ members[String($0)] != nil }) {
            return .array((0..<count).map { members[String($0)]! })
        }
        return .object(members)
    }

    // Keys never contain brackets (PHP cannot round-trip them either) and are never empty.
    static let keyCharacters = Array("abcXYZ019_-. +&=%#?/éж😀")
    static let textCharacters = Array("ab Z09 &=+%[]#?/\\\"'\n\t\u{0}~*éжשׁ😀👍🏽")

    static func randomKey(_ g: inout SeededGenerator) -> String {
        // Sometimes a small number, so lists and sparse lists appear.
        if Bool.random(using: &g) { return String(Int.random(in: 0...3, using: &g)) }
        return String((0..<Int.random(in: 1...6, using: &g)).map { _ in keyCharacters.randomElement(using: &g)! })
    }

    static func randomValue(depth: Int, _ g: inout SeededGenerator) -> JSONValue {
        let choice = Int.random(in: 0..<(depth >= 4 ? 5 : 8), using: &g)
        switch choice {
        case 0: return .string(String((0..<Int.random(in: 0...8, using: &g)).map { _ in textCharacters.randomElement(using: &g)! }))
        case 1: return .int(Int64.random(in: -1_000_000...Int64.max, using: &g))
        case 2: return .bool(Bool.random(using: &g))
        case 3: return Bool.random(using: &g) ? .null : .double(Double(Int.random(in: -999...999, using: &g)) / 8)
        case 4: return .string(String(Int.random(in: 0...99, using: &g)))
        case 5, 6:
            return .array((0..<Int.random(in: 0...4, using: &g)).map { _ in randomValue(depth: depth + 1, &g) })
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...4, using: &g) { members[randomKey(&g)] = randomValue(depth: depth + 1, &g) }
            return .object(members)
        }
    }
}
