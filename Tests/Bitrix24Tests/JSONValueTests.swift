import Foundation
import Testing

@testable import Bitrix24

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
}
