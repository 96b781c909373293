import Foundation
import Postgres
import Testing
import TestSupport

@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct TypeRoundTripTests {
    let scratch: ScratchDatabase
    let db: Connection

    init() throws {
        scratch = try ScratchDatabase()
        db = try scratch.connect()
    }

    func roundTrip<T: PostgresEncodable & PostgresDecodable>(_ value: T, as sqlType: String) throws -> T {
        try db.query("SELECT $1::\(sqlType)", [value]).first!.decode(0, as: T.self)
    }

    @Test func textKeepsUnicodeIntact() throws {
        for text in ["", "plain", "Привет, мир", "日本語のテキスト", "emoji 👋🏽 and combining é", "quote ' \" \\ tab\t nl\n"] {
            #expect(try roundTrip(text, as: "text") == text)
        }
    }

    @Test func integers() throws {
        for value in [Int64.min, -1, 0, 1, Int64.max] {
            #expect(try roundTrip(value, as: "bigint") == value)
        }
        for value in [Int32.min, 0, Int32.max] {
            #expect(try roundTrip(value, as: "integer") == value)
        }
        #expect(try roundTrip(42, as: "bigint") == 42)
    }

    @Test func booleans() throws {
        #expect(try roundTrip(true, as: "boolean") == true)
        #expect(try roundTrip(false, as: "boolean") == false)
    }

    @Test func doubles() throws {
        for value in [0.0, -1.5, 3.141592653589793, 1e-300, 1.7976931348623157e308, .infinity, -.infinity] {
            #expect(try roundTrip(value, as: "double precision") == value)
        }
        #expect(try roundTrip(Double.nan, as: "double precision").isNaN)
    }

    @Test func jsonb() throws {
        let value = JSONB(#"{"b": [1, 2, {"c": null}], "a": "Привет"}"#)
        let back = try roundTrip(value, as: "jsonb")
        // jsonb normalises key order and spacing; the content is what must survive.
        #expect(try back.decode(as: Sample.self) == Sample(a: "Привет", b: [1, 2]))
        #expect(try db.query("SELECT $1::jsonb = $2::jsonb", [value, back]).first!.decode(0, as: Bool.self))
    }

    struct Sample: Codable, Equatable {
        var a: String
        var b: [Int]
        init(a: String, b: [Int]) { self.a = a; self.b = b }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            a = try c.decode(String.self, forKey: .a)
            var items = try c.nestedUnkeyedContainer(forKey: .b)
            b = [try items.decode(Int.self), try items.decode(Int.self)]
        }
    }

    @Test(arguments: ["UTC", "Asia/Kolkata", "America/St_Johns", "Pacific/Chatham"])
    func timestamptzInAnySessionTimeZone(zone: String) throws {
        try db.execute("SELECT set_config('TimeZone', $1, false)", [zone])
        for seconds in [0.0, 1_728_454_867.185_14, -86_400.5, 4_102_444_800.000_001] {
            let date = Date(timeIntervalSince1970: seconds)
            let back = try roundTrip(date, as: "timestamptz")
            #expect(abs(back.timeIntervalSince1970 - seconds) < 0.000_002, "\(seconds) in \(zone)")
        }
        let known = try db.query("SELECT '2024-10-09 09:21:07.5+03'::timestamptz").first!.decode(0, as: Date.self)
        #expect(known.timeIntervalSince1970 == 1_728_454_867.5)
    }

    @Test func bytea() throws {
        let bytes = ByteA((0...255).map { UInt8($0) } + [0, 0, 92, 120])
        #expect(try roundTrip(bytes, as: "bytea") == bytes)
        #expect(try roundTrip(ByteA([]), as: "bytea") == ByteA([]))
    }

    @Test func nullForEveryType() throws {
        let row = try db.query(
            "SELECT $1::text, $2::bigint, $3::integer, $4::boolean, $5::double precision, $6::jsonb, $7::timestamptz, $8::bytea",
            [String?.none, Int64?.none, Int32?.none, Bool?.none, Double?.none, JSONB?.none, Date?.none, ByteA?.none]
        ).first!
        #expect(try row.decode(0, as: String?.self) == nil)
        #expect(try row.decode(1, as: Int64?.self) == nil)
        #expect(try row.decode(2, as: Int32?.self) == nil)
        #expect(try row.decode(3, as: Bool?.self) == nil)
        #expect(try row.decode(4, as: Double?.self) == nil)
        #expect(try row.decode(5, as: JSONB?.self) == nil)
        #expect(try row.decode(6, as: Date?.self) == nil)
        #expect(try row.decode(7, as: ByteA?.self) == nil)
        // Asking for a non-optional value of a NULL column is an error, not a default.
        #expect(throws: PostgresDecodingError.self) { try row.decode(0, as: String.self) }
    }

    @Test func arraysForBulkStatements() throws {
        let names = ["a", "b,c", "d\"e", "f\\g", "{h}", "NULL", ""]
        let rows = try db.query("SELECT n FROM unnest($1::text[]) WITH ORDINALITY AS t(n, i) ORDER BY i", [names])
        #expect(try rows.map { try $0.decode(0, as: String.self) } == names)
        let withNull: [String?] = ["x", nil]
        let nulls = try db.query("SELECT n IS NULL FROM unnest($1::text[]) AS t(n)", [withNull])
        #expect(try nulls.map { try $0.decode(0, as: Bool.self) } == [false, true])
    }

    @Test func decodingByColumnName() throws {
        let row = try db.query("SELECT 7::bigint AS id, 'x' AS name").first!
        #expect(try row.decode("id", as: Int.self) == 7)
        #expect(try row.decode("name", as: String.self) == "x")
        #expect(throws: PostgresDecodingError.self) { try row.decode("missing", as: String.self) }
    }
}
