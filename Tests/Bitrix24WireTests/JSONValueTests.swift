import Bitrix24Wire
import Foundation
import Testing

@Suite struct JSONValueTests {
    func parse(_ text: String) throws -> JSONValue { try JSONValue(jsonData: Array(text.utf8)) }

    @Test func keepsNumberKindsApart() throws {
        #expect(try parse("1") == .int(1))
        #expect(try parse("true") == .bool(true))
        #expect(try parse("0") == .int(0))
        #expect(try parse("false") == .bool(false))
        #expect(try parse("1.5") == .double(1.5))
        #expect(try parse("-7") == .int(-7))
        #expect(try parse("9223372036854775807") == .int(.max))
        #expect(try parse("1728454867.18514") == .double(1728454867.18514))
        #expect(try parse(#""5""#) == .string("5"))
        #expect(try parse("null") == .null)
        #expect(try parse("[]") == .array([]))
        #expect(try parse("{}") == .object([:]))
    }

    @Test func roundTripsThroughJSON() throws {
        let value: JSONValue = ["a": [1, 2.5, "x/y", nil, true], "b": ["c": "ü\"\n"]]
        #expect(try JSONValue(jsonData: value.jsonData()) == value)
        #expect(value.jsonString == #"{"a":[1,2.5,"x/y",null,true],"b":{"c":"ü\"\n"}}"#)
    }

    @Test func writesAJSONBArrayOfObjectsWithMembersAddedThatReadsBackMerged() throws {
        let added: [(String, JSONValue)] = [("worker", "w/1"), ("attempt", 2)]
        let objects: [(base: JSONValue, added: [(String, JSONValue)])] = [
            (["method": "im.notify.personal.add", "result": 7, "time": ["start": 1.5, "date_start": "2026-11-24T02:05:29+03:00"]],
             added + [("result_id", 7)]),
            (["error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many \"requests\"\n", "next": .null, "attempt": 1], added),
            ([:], []),
            (.null, added),
            ("not an object", added),
        ]
        let expected: JSONValue = [
            ["method": "im.notify.personal.add", "result": 7, "time": ["start": 1.5, "date_start": "2026-11-24T02:05:29+03:00"],
             "worker": "w/1", "attempt": 2, "result_id": 7],
            // An added key replaces the base's.
            ["error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many \"requests\"\n", "next": .null, "worker": "w/1", "attempt": 2],
            [:],
            ["worker": "w/1", "attempt": 2],
            ["value": "not an object", "worker": "w/1", "attempt": 2],
        ]
        let text = JSONValue.jsonbArrayText(objects)
        #expect(try parse(text) == expected)
        // Each key once, as jsonb would otherwise keep only the last of a repeated key.
        #expect(text.components(separatedBy: #""attempt""#).count == 1 + 4)
        #expect(JSONValue.jsonbArrayText([]) == "[]")
    }

    /// Decimals are read without strtod where that is exact; every reading must equal strtod's.
    @Test func readsDecimalsExactlyAsStrtodDoes() throws {
        var samples = ["0.5", "-0.0", "1795482440.887579", "0.000001041", "0.0000032186508178710938", "123456789012345678",
                       "-123456789012345678", "1234567890123456789", "9007199254740993.5", "0.1", "2.2250738585072014e-308",
                       "1e22", "99999999999999999.9", "0.30000000000000004", "-7.25"]
        // A fixed linear congruential sequence: the same numbers every run.
        var state: UInt64 = 0x2545F4914F6CDD1D
        for _ in 0..<3_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let whole = state >> 40
            let fraction = (state >> 8) % 10_000_000
            let places = Int(state % 9)
            samples.append("\(state & 1 == 0 ? "" : "-")\(whole).\(String(String(fraction).prefix(max(1, places))))")
        }
        for text in samples {
            let parsed = try parse(text)
            if let expected = Int64(text) {
                #expect(parsed == .int(expected), "\(text)")
            } else {
                let expected = try #require(Double(text))
                #expect(parsed.doubleValue?.bitPattern == expected.bitPattern, "\(text) read as \(parsed)")
            }
        }
    }

    @Test func refusesNonJSON() {
        #expect(throws: (any Error).self) { try JSONValue(jsonData: Array("<html>".utf8)) }
        #expect(throws: (any Error).self) { try JSONValue(jsonData: [UInt8]()) }
    }

    @Test func scalarAccessors() {
        #expect(JSONValue.string(" 42 ").intValue == 42)
        #expect(JSONValue.double(3.0).intValue == 3)
        #expect(JSONValue.double(3.5).intValue == nil)
        #expect(JSONValue.double(1e300).intValue == nil)
        #expect(JSONValue.double(2.0).stringValue == "2")
        #expect(JSONValue.bool(false).stringValue == "")
        #expect(JSONValue.string("1.25").doubleValue == 1.25)
        #expect(JSONValue.array([1])[0] == .int(1))
        #expect(JSONValue.array([1])[1] == nil)
    }

    @Test func readsEscapesAndUnicode() throws {
        #expect(try parse(#""a\"b\\c\/d\b\f\n\r\t""#) == .string("a\"b\\c/d\u{8}\u{C}\n\r\t"))
        #expect(try parse(#""\u00e9\u4e2d\ud83d\ude00""#) == .string("é中😀"))
        #expect(try parse(" \n\t{ \"k\" : [ 1 , { } ] }\r\n") == ["k": [1, [:]]])
        #expect(try parse(#"{"k": 1, "k": 2}"#) == ["k": 2])
    }

    @Test func numbersOutsideInt64BecomeDoubles() throws {
        #expect(try parse("9223372036854775808") == .double(9223372036854775808))
        #expect(try parse("-9223372036854775808") == .int(.min))
        #expect(try parse("1e3") == .double(1000))
        #expect(try parse("-0.5E-2") == .double(-0.005))
        #expect(try parse("-0") == .int(0))
    }

    @Test(arguments: [
        "01", "1.", ".5", "-", "1e", "+1", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{1:2}", "[1 2]", "tru", "nul",
        "\"unterminated", "\"tab\there\"", #""\x""#, #""\ud83d""#, #""\ude00""#, #""\u12""#, "1 2", "{} x", "NaN",
        "1e999",
    ])
    func refusesMalformedDocuments(_ text: String) {
        #expect(throws: (any Error).self) { try JSONValue(jsonData: Array(text.utf8)) }
    }

    @Test func refusesInvalidUTF8AndDeepNesting() {
        #expect(throws: (any Error).self) { try JSONValue(jsonData: [0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: (any Error).self) { try JSONValue(jsonData: [0x22, 0x5C, 0x6E, 0xFF, 0x22]) }
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(throws: (any Error).self) { try JSONValue(jsonData: Array(deep.utf8)) }
        let fine = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect((try? JSONValue(jsonData: Array(fine.utf8))) != nil)
    }

    @Test func writesCompactSortedEscapedJSON() throws {
        let value: JSONValue = ["b": 1.0, "a": "line\u{1}\u{8}\u{C}é/", "c": .double(.infinity), "d": [nil, false, -3]]
        #expect(value.jsonString == #"{"a":"line\u0001\b\fé/","b":1.0,"c":null,"d":[null,false,-3]}"#)
        #expect(try JSONValue(jsonData: value.jsonData())["b"] == .double(1))
    }
}

