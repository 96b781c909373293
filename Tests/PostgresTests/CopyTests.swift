import Foundation
import Postgres
import Testing
import TestSupport

@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct CopyTests {
    let scratch: ScratchDatabase
    let db: Connection

    init() throws {
        scratch = try ScratchDatabase()
        db = try scratch.connect()
        try db.execute("CREATE TABLE bulk (n bigint NOT NULL, label text, payload jsonb, at timestamptz, raw bytea)")
    }

    @Test func copiesTenThousandRowsInOneCall() throws {
        let rows: [[any PostgresEncodable]] = (0..<10_000).map { n in
            [n, "label \(n)", JSONB(#"{"n": \#(n)}"#), Date(timeIntervalSince1970: Double(n)), ByteA([UInt8(n % 256)])]
        }
        let copied = try db.copyIn("COPY bulk (n, label, payload, at, raw) FROM STDIN", rows: rows)
        #expect(copied == 10_000)
        let summary = try db.query("SELECT count(*), sum(n), max((payload->>'n')::int) FROM bulk").first!
        #expect(try summary.decode(0, as: Int.self) == 10_000)
        #expect(try summary.decode(1, as: Int.self) == (0..<10_000).reduce(0, +))
        #expect(try summary.decode(2, as: Int.self) == 9_999)
    }

    @Test func escapesSeparatorsAndKeepsNulls() throws {
        let tricky = "tab\there\nnewline\r\\backslash \\N not null Ω"
        try db.copyIn("COPY bulk (n, label, raw) FROM STDIN", rows: [
            [1, tricky, ByteA([0, 9, 10, 92])],
            [2, String?.none, ByteA?.none],
        ])
        let rows = try db.query("SELECT label, raw FROM bulk ORDER BY n")
        #expect(try rows[0].decode(0, as: String.self) == tricky)
        #expect(try rows[0].decode(1, as: ByteA.self) == ByteA([0, 9, 10, 92]))
        #expect(try rows[1].decode(0, as: String?.self) == nil)
        #expect(try rows[1].decode(1, as: ByteA?.self) == nil)
    }

    @Test func aBadRowCopiesNothing() throws {
        let rows: [[any PostgresEncodable]] = [[1, "fine"], [2, "has \u{0} nul"], [3, "never sent"]]
        #expect(throws: PostgresError.self) {
            try db.copyIn("COPY bulk (n, label) FROM STDIN", rows: rows)
        }
        #expect(try db.query("SELECT count(*) FROM bulk").first!.decode(0, as: Int.self) == 0)
        // The connection is still usable afterwards.
        #expect(try db.query("SELECT 1").first!.decode(0, as: Int.self) == 1)
    }

    @Test func aRowTheServerRejectsCopiesNothing() throws {
        let rows: [[any PostgresEncodable]] = [[1, "ok"], [Int?.none, "n is NOT NULL"]]
        let error = try #require(throws: PostgresError.self) {
            try db.copyIn("COPY bulk (n, label) FROM STDIN", rows: rows)
        }
        #expect(error.code == .notNullViolation)
        #expect(try db.query("SELECT count(*) FROM bulk").first!.decode(0, as: Int.self) == 0)
    }

    @Test func copyOutStreamsEveryRowAndCopyInReadsItBack() throws {
        let tricky = "tab\there\nnewline\r\\backslash Ω"
        try db.copyIn("COPY bulk (n, label) FROM STDIN", rows: (1...1000).map { [$0, $0 == 7 ? tricky : String?.none] })
        var text: [UInt8] = []
        var calls = 0
        let copied = try db.copyOut("COPY (SELECT n, label FROM bulk ORDER BY n) TO STDOUT") { row in
            text.append(contentsOf: row)
            calls += 1
        }
        #expect(copied == 1000)
        #expect(calls == 1000)
        let lines = String(decoding: text, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 1000)
        // A tab between columns; the value's tab, newline, return and backslash escaped.
        #expect(lines[6] == "7\t" + #"tab\there\nnewline\r\\backslash Ω"#)
        #expect(lines[0] == "1\t\\N")
    }

    @Test func copyOutStopsCallingBackAfterAnErrorAndTheConnectionStaysUsable() throws {
        try db.copyIn("COPY bulk (n) FROM STDIN", rows: (1...100).map { [$0] })
        struct Full: Error {}
        var calls = 0
        #expect(throws: Full.self) {
            try db.copyOut("COPY bulk (n) TO STDOUT") { _ in
                calls += 1
                if calls == 3 { throw Full() }
            }
        }
        #expect(calls == 3)
        #expect(try db.query("SELECT count(*) FROM bulk").first!.decode(0, as: Int.self) == 100)
        let notCopy = try #require(throws: PostgresError.self) { try db.copyOut("SELECT 1") { _ in } }
        #expect(notCopy.code == .protocolViolation)
        let bad = try #require(throws: PostgresError.self) { try db.copyOut("COPY missing TO STDOUT") { _ in } }
        #expect(bad.code == .undefinedTable)
    }
}
