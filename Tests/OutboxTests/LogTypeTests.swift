import Outbox
import Postgres
import Testing
import TestSupport

@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct LogTypeTests {
    @Test("the database knows exactly the types of LogType.all, and refuses any other")
    func databaseKnowsExactlyLogTypes() throws {
        let (scratch, db) = try migratedDatabase()
        defer { withExtendedLifetime(scratch) {} }
        let known = try db.query("""
            SELECT m[1] FROM pg_constraint c, regexp_matches(pg_get_constraintdef(c.oid), '''([a-z_.]+)''', 'g') AS m
             WHERE c.conrelid = 'outbox.log'::regclass AND c.conname = 'log_type_known'
            """).map { try $0.decode(0, as: String.self) }
        #expect(known.count == LogType.all.count)
        #expect(Set(known) == Set(LogType.all))
        for type in LogType.all {
            do {
                try db.transaction { db in
                    try db.execute("INSERT INTO outbox.log (stream, type) VALUES ('x', $1)", [type])
                    throw Rollback()
                }
            } catch is Rollback {}
        }
        let refused = try #require(throws: PostgresError.self) {
            try db.execute("INSERT INTO outbox.log (stream, type) VALUES ('portal-main', 'portal.renamed')")
        }
        #expect(refused.code == .checkViolation)
        #expect(refused.constraint == "log_type_known")
        #expect(try db.query("SELECT count(*) FROM outbox.log WHERE type = 'portal.renamed'").first!.decode(0, as: Int.self) == 0)
    }

    @Test("adding the check reads no existing row again: a log with a type unknown today migrates, and keeps it")
    func existingRowsAreNotChecked() throws {
        let scratch = try ScratchDatabase()
        let db = try scratch.connect()
        // As a build of migration 018 left it (its function files did not have the later tables yet).
        try Migrator(migrations: Migration.bundled.filter { $0.name < "019" }, functions: []).migrate(on: db)
        try db.execute("INSERT INTO outbox.log (stream, type) VALUES ('x', 'older.type')")
        #expect(try Migrator().migrate(on: db) == Migration.bundled.map(\.name).filter { $0 >= "019" })
        #expect(try db.query("SELECT convalidated FROM pg_constraint WHERE conname = 'log_type_known' AND conrelid = 'outbox.log'::regclass")
            .first!.decode(0, as: Bool.self) == false)
        #expect(try db.query("SELECT count(*) FROM outbox.log WHERE type = 'older.type'").first!.decode(0, as: Int.self) == 1)
        // A month added later carries the check too.
        try db.execute("SELECT outbox.add_log_partition('2031-05-01')")
        let refused = try #require(throws: PostgresError.self) {
            try db.execute("INSERT INTO outbox.log (recorded_at, stream, type) VALUES ('2031-05-02', 'x', 'older.type')")
        }
        #expect(refused.code == .checkViolation)
    }
}

private struct Rollback: Error {}
