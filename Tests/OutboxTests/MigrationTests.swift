import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

@Suite(.enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct MigrationTests {
    let scratch: ScratchDatabase
    let db: Connection

    init() throws {
        scratch = try ScratchDatabase()
        db = try scratch.connect()
    }

    @Test func appliesEachMigrationOnceAndSecondRunChangesNothing() throws {
        let migrator = Migrator()
        #expect(!migrator.migrations.isEmpty)
        #expect(try migrator.migrate(on: db) == migrator.migrations.map(\.name))
        #expect(try migrator.isCurrent(on: db))
        let before = try snapshot()
        #expect(try migrator.migrate(on: db).isEmpty)
        #expect(try snapshot() == before)
    }

    @Test func logRefusesUpdateDeleteAndTruncate() throws {
        try Migrator().migrate(on: db)
        try db.execute("INSERT INTO outbox.log (stream, type, data) VALUES ('portal-main', 'portal.added', '{}')")
        for statement in [
            "UPDATE outbox.log SET type = 'tampered.entry'",
            "DELETE FROM outbox.log",
            "TRUNCATE outbox.log",
        ] {
            let error = try #require(throws: PostgresError.self, "\(statement)") { try db.execute(statement) }
            #expect(error.code == .restrictViolation)
            #expect(error.message.contains("outbox.log is append-only"))
        }
        // Not even with ordinary triggers switched off for replication.
        try db.execute("SET session_replication_role = replica")
        #expect(throws: PostgresError.self) { try db.execute("DELETE FROM outbox.log") }
        try db.execute("RESET session_replication_role")
        #expect(try db.query("SELECT type FROM outbox.log").first!.decode(0, as: String.self) == "portal.added")
    }

    @Test func twoConcurrentRunsBothSucceed() async throws {
        let conninfo = scratch.conninfo
        let results = await withTaskGroup(of: Result<[String], any Error>.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    Result { try Migrator().migrate(on: try Connection(conninfo)) }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let applied = try results.map { try $0.get() }
        // One run applied everything, the other found nothing left to do.
        #expect(applied.map(\.count).sorted() == [0, Migrator().migrations.count])
        #expect(try db.query("SELECT count(*) FROM outbox.schema_migrations").first!.decode(0, as: Int.self)
            == Migrator().migrations.count)
    }

    @Test func aChangedAppliedFileIsReportedAndNothingRuns() throws {
        try Migrator().migrate(on: db)
        var changed = Migration.bundled
        changed[0].sql += "\nCREATE TABLE outbox.sneaky (x int);"
        let extra = Migration(name: "999_later.sql", sql: "CREATE TABLE outbox.later (x int);")
        let error = try #require(throws: MigrationError.self) {
            try Migrator(migrations: changed + [extra]).migrate(on: db)
        }
        #expect(error.description.contains(changed[0].name))
        #expect(try Migrator(migrations: changed).status(on: db).first?.state == .changed)
        #expect(try db.query("SELECT to_regclass('outbox.later') IS NULL").first!.decode(0, as: Bool.self))
    }

    @Test func aFailingMigrationLeavesNoTrace() throws {
        let broken = Migration.bundled + [Migration(name: "998_broken.sql", sql: "CREATE TABLE outbox.half (x int); SELECT 1/0;")]
        #expect(throws: PostgresError.self) { try Migrator(migrations: broken).migrate(on: db) }
        let states = try Migrator(migrations: broken).status(on: db)
        #expect(states.last?.name == "998_broken.sql")
        #expect(states.last?.state == .pending)
        #expect(try db.query("SELECT to_regclass('outbox.half') IS NULL").first!.decode(0, as: Bool.self))
    }

    @Test func schemaChecksKindsAndStatuses() throws {
        try Migrator().migrate(on: db)
        try db.execute("""
            INSERT INTO outbox.portals (name, base_url, auth_kind, webhook_user_id, webhook_code)
            VALUES ('main', 'https://example.bitrix24.com', 'webhook', 1, 'code')
            """)
        let insert = "INSERT INTO outbox.intents (portal_id, kind, payload, idempotency_key, status) VALUES (1, $1, '{}', $2, $3)"
        try db.execute(insert, ["notify.personal", "k1", "pending"])
        let badKind = try #require(throws: PostgresError.self) { try db.execute(insert, ["sms.send", "k2", "pending"]) }
        #expect(badKind.code == .checkViolation)
        let badStatus = try #require(throws: PostgresError.self) { try db.execute(insert, ["notify.system", "k3", "lost"]) }
        #expect(badStatus.code == .checkViolation)
        // A key is unique per portal and kind in intent_keys, and an intent's key never changes.
        let key = "INSERT INTO outbox.intent_keys (portal_id, kind, idempotency_key, intent_id) VALUES (1, 'notify.personal', 'k1', $1)"
        try db.execute(key, [Int64(1)])
        let repeated = try #require(throws: PostgresError.self) { try db.execute(key, [Int64(2)]) }
        #expect(repeated.constraint == "intent_keys_pkey")
        let rekeyed = try #require(throws: PostgresError.self) { try db.execute("UPDATE outbox.intents SET idempotency_key = 'k9'") }
        #expect(rekeyed.code == .restrictViolation)
        // The claim query's partial index is there.
        #expect(try db.query("SELECT indexdef FROM pg_indexes WHERE indexname = 'intents_pending_due'")
            .first!.decode(0, as: String.self).contains("WHERE (status = 'pending'::text)"))
    }

    private func snapshot() throws -> [String] {
        try db.query("""
            SELECT name || ':' || checksum || ':' || applied_at::text FROM outbox.schema_migrations ORDER BY name
            """).map { try $0.decode(0) }
    }
}
