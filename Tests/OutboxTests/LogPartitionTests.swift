import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

@Suite("Log partitions", .enabled(if: TestEnvironment.hasDatabase, "needs PostgreSQL: run scripts/test.sh"))
struct LogPartitionTests {
    let scratch: ScratchDatabase
    let db: Connection

    init() throws {
        scratch = try ScratchDatabase()
        db = try scratch.connect()
    }

    /// The months around now, as PostgreSQL's clock (UTC) sees them: offset 0 is the current month.
    func month(_ offset: Int) throws -> LogMonth {
        LogMonth(try db.query(
            "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => $1::int), 'YYYY-MM')",
            [offset]).first!.decode(0, as: String.self))!
    }

    func partitions() throws -> [String] {
        try db.query("""
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'outbox.log'::regclass ORDER BY 1
            """).map { try $0.decode(0) }
    }

    func rows() throws -> [String] {
        try db.query("""
            SELECT concat_ws('|', seq, recorded_at, stream, type, intent_id, portal_id, data, tableoid::regclass)
              FROM outbox.log ORDER BY seq
            """).map { try $0.decode(0) }
    }

    @Test("migrating a log with rows keeps every seq, time and datum, and the identity continues")
    func migrationFrom005() throws {
        try Migrator(migrations: Migration.bundled.filter { $0.name < "006" }).migrate(on: db)
        let (old, older) = (try month(-1), try month(-3))
        try db.execute("""
            INSERT INTO outbox.portals (name, base_url, auth_kind, webhook_user_id, webhook_code)
            VALUES ('main', 'https://example.bitrix24.com', 'webhook', 1, 'code')
            """)
        try db.execute("""
            INSERT INTO outbox.log (recorded_at, stream, type, intent_id, portal_id, data) VALUES
                ($1::timestamptz + interval '3 days', 'intent-1', 'intent.enqueued', 1, 1, '{"n": 1}'),
                ($2::timestamptz - interval '1 microsecond', 'intent-1', 'intent.claimed', 1, 1, '{"attempt": 1}'),
                ($2::timestamptz, 'intent-1', 'delivery.succeeded', 1, 1, '{"text": "tab\\there, quote \\" and ü"}')
            """, [older.start, old.start])
        let event = try db.query(#"SELECT event_seq FROM outbox.record_event(1, 'fp-1', '{"payload": {"a": 1}}', '[]')"#)
            .first!.decode(0, as: Int64.self)
        // A rolled-back append still used up its seq: it is never handed out again.
        try db.execute("BEGIN")
        try db.execute("INSERT INTO outbox.log (stream, type) VALUES ('x', 'portal.added')")
        try db.execute("ROLLBACK")
        let before = try db.query("""
            SELECT concat_ws('|', seq, recorded_at, stream, type, intent_id, portal_id, data) FROM outbox.log ORDER BY seq
            """).map { try $0.decode(0, as: String.self) }
        #expect(before.count == 4)

        #expect(try Migrator().migrate(on: db).first == "006_log_partitions.sql")
        let after = try rows()
        #expect(after.map { String($0[..<$0.lastIndex(of: "|")!]) } == before)
        // Each row sits in its own month's partition.
        #expect(after.map { String($0[$0.index(after: $0.lastIndex(of: "|")!)...]) } == [
            "outbox.\(older.partition)", "outbox.\(try month(-2).partition)", "outbox.\(old.partition)",
            "outbox.\(try month(0).partition)",
        ])
        #expect(try db.query("SELECT relkind::text FROM pg_class WHERE oid = 'outbox.log'::regclass").first!.decode(0, as: String.self) == "p")
        let next: Int64 = try db.query("INSERT INTO outbox.log (stream, type) VALUES ('x', 'portal.added') RETURNING seq")
            .first!.decode(0)
        #expect(next == event + 2)
        // inbound_events.log_seq still names the event's entry, and a redelivery still finds it.
        #expect(try db.query("SELECT l.type FROM outbox.inbound_events e JOIN outbox.log l ON l.seq = e.log_seq")
            .first!.decode(0, as: String.self) == "bitrix.event")
        let again = try db.query(#"SELECT event_seq, was_duplicate FROM outbox.record_event(1, 'fp-1', '{"payload": {"a": 1}}', '[]')"#).first!
        #expect(try again.decode(0, as: Int64.self) == event)
        #expect(try again.decode(1, as: Bool.self))
        #expect(try db.query("SELECT to_regclass('outbox.log_unpartitioned') IS NULL").first!.decode(0, as: Bool.self))
    }

    @Test("the current month and three ahead exist, rows land in their month, and ensure is idempotent")
    func monthsAhead() throws {
        try Migrator().migrate(on: db)
        let ahead = try (0...3).map { "log_" + (try month($0)).description.replacingOccurrences(of: "-", with: "_") }
        #expect(Set(ahead).isSubset(of: try partitions()))
        #expect(try partitions().contains("log_default"))
        #expect(try LogPartitions.ensure(on: db).isEmpty)

        let created = try LogPartitions.ensure(monthsAhead: 6, on: db)
        #expect(created == (try (4...6).map { "outbox.\(try month($0).partition)" }))
        #expect(try LogPartitions.ensure(monthsAhead: 6, on: db).isEmpty)

        for offset in [0, 2, 6] {
            let into: String = try db.query(
                "INSERT INTO outbox.log (recorded_at, stream, type) VALUES ($1::timestamptz + interval '1 day', 'x', 'portal.added') RETURNING tableoid::regclass::text",
                [try month(offset).start]).first!.decode(0)
            #expect(into == "outbox.\(try month(offset).partition)")
        }
        let bad = try #require(throws: PostgresError.self) { try LogPartitions.ensure(monthsAhead: -1, on: db) }
        #expect(bad.code == .invalidParameterValue)
    }

    @Test("months are UTC months whatever the time zone of the session that migrates or adds them")
    func monthsAreUTC() throws {
        try db.execute("SET TimeZone = 'Pacific/Kiritimati'")
        try Migrator().migrate(on: db)
        try db.execute("SET TimeZone = 'America/Los_Angeles'")
        try LogPartitions.ensure(monthsAhead: 5, on: db)
        try db.execute("SET TimeZone = 'UTC'")
        for offset in 0...5 {
            let month = try month(offset)
            let bound: String = try db.query("SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE oid = $1::regclass",
                                             ["outbox.\(month.partition)"]).first!.decode(0)
            #expect(bound.hasPrefix("FOR VALUES FROM ('\(month.start)')"), "\(bound)")
        }
    }

    @Test("concurrent ensure calls from several processes all succeed and create each month once")
    func concurrentEnsure() async throws {
        try Migrator().migrate(on: db)
        let conninfo = scratch.conninfo
        let results = await withTaskGroup(of: Result<[String], any Error>.self) { group in
            for _ in 0..<4 {
                group.addTask { Result { try LogPartitions.ensure(monthsAhead: 12, on: try Connection(conninfo)) } }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let created = try results.flatMap { try $0.get() }
        #expect(created.count == 9)
        #expect(Set(created).count == 9)
    }

    @Test("a month waiting behind a long reader such as verify holds up no append and reads for half a second at most")
    func addingAMonthBlocksNoAppend() async throws {
        try Migrator().migrate(on: db)
        let reader = try scratch.connect()
        try reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        _ = try reader.query("SELECT count(*) FROM outbox.log")
        let conninfo = scratch.conninfo
        let ensuring = Task.detached { try LogPartitions.ensure(monthsAhead: 5, on: try Connection(conninfo)) }
        try await Task.sleep(for: .milliseconds(100))
        let started = ContinuousClock.now
        let writer = try scratch.connect()
        for n in 1...20 {
            try writer.execute("INSERT INTO outbox.log (stream, type, data) VALUES ('x', 'portal.added', $1::jsonb)", ["{\"n\": \(n)}"])
        }
        #expect(try writer.query("SELECT count(*) FROM outbox.log").first!.decode(0, as: Int.self) == 20)
        #expect(ContinuousClock.now - started < .milliseconds(1500), "appends and reads waited for the new month")
        // It gave up rather than keep readers queued; the next call, with the reader gone, succeeds.
        let gaveUp = await ensuring.result
        #expect(throws: PostgresError.self) { try gaveUp.get() }
        if case .failure(let error as PostgresError) = gaveUp { #expect(error.code == .lockNotAvailable) }
        try reader.execute("COMMIT")
        #expect(try LogPartitions.ensure(monthsAhead: 5, on: db) == (try (4...5).map { "outbox.\(try month($0).partition)" }))
    }

    @Test("an entry outside every month lands in the default partition, and ensure files it into its month unchanged")
    func strayRowsMoveToTheirMonth() throws {
        try Migrator().migrate(on: db)
        let far = try month(30)
        let seq: Int64 = try db.query("""
            INSERT INTO outbox.log (recorded_at, stream, type, data) VALUES ($1::timestamptz + interval '5 days', 'x', 'portal.added', '{"k": "v"}')
            RETURNING seq
            """, [far.start]).first!.decode(0)
        let before = try rows()
        #expect(before.last?.hasSuffix("|outbox.log_default") == true)
        #expect(try LogPartitions.ensure(on: db) == ["outbox.\(far.partition)"])
        let after = try rows()
        #expect(after.map { $0.replacingOccurrences(of: "|outbox.\(far.partition)", with: "|outbox.log_default") } == before)
        #expect(try db.query("SELECT count(*) FROM outbox.log_default").first!.decode(0, as: Int.self) == 0)
        #expect(try db.query("SELECT seq FROM outbox.\(far.partition)").first!.decode(0, as: Int64.self) == seq)
        // The new default partition refuses changes like the old one.
        let truncate = try #require(throws: PostgresError.self) { try db.execute("TRUNCATE outbox.log_default") }
        #expect(truncate.code == .restrictViolation)
    }

    @Test("UPDATE, DELETE and TRUNCATE are refused through the parent and on every partition, even for replication")
    func appendOnlyEverywhere() throws {
        try Migrator().migrate(on: db)
        try db.execute("INSERT INTO outbox.log (stream, type) VALUES ('portal-main', 'portal.added')")
        let current = "outbox.\(try month(0).partition)"
        var statements: [String] = []
        for table in ["outbox.log", current] {
            statements += ["UPDATE \(table) SET type = 'tampered.entry'", "DELETE FROM \(table)", "TRUNCATE \(table)"]
        }
        // Empty partitions have no rows for the row trigger to refuse, but TRUNCATE is refused on each.
        statements += ["TRUNCATE outbox.\(try month(1).partition)", "TRUNCATE outbox.log_default"]
        for replica in [false, true] {
            if replica { try db.execute("SET session_replication_role = replica") }
            for statement in statements {
                let error = try #require(throws: PostgresError.self, "\(statement)") { try db.execute(statement) }
                #expect(error.code == .restrictViolation, "\(statement)")
                #expect(error.message.contains("outbox.log is append-only"))
            }
        }
        try db.execute("RESET session_replication_role")
        #expect(try db.query("SELECT type FROM outbox.log").map { try $0.decode(0, as: String.self) } == ["portal.added"])
    }

    @Test("no role of the services can detach, drop or truncate a month; the worker appends through the parent and keeps months ahead")
    func rolesCannotRemoveMonths() throws {
        try Migrator().migrate(on: db)
        try db.execute("INSERT INTO outbox.log (stream, type) VALUES ('portal-main', 'portal.added')")
        let partition = "outbox.\(try month(0).partition)"
        #expect(refusal("b24outbox_worker", "INSERT INTO outbox.log (stream, type) VALUES ('x', 'portal.added')") == nil)
        #expect(refusal("b24outbox_worker", "SELECT outbox.ensure_log_partitions(3)") == nil)
        #expect(refusal("b24outbox_audit", "SELECT count(*) FROM outbox.log") == nil)
        #expect(refusal("b24outbox_audit", "SELECT count(*) FROM outbox.log_archives") == nil)
        for role in ["b24outbox_worker", "b24outbox_producer", "b24outbox_audit"] {
            for sql in [
                "ALTER TABLE outbox.log DETACH PARTITION \(partition)",
                "ALTER TABLE outbox.log DETACH PARTITION outbox.log_default",
                "DROP TABLE \(partition)",
                "TRUNCATE \(partition)",
                "TRUNCATE outbox.log",
                "SELECT count(*) FROM \(partition)",
                "INSERT INTO outbox.log_archives (month, partition_name, file_name, rows, sha256, log_seq) VALUES ('2020-01-01', 'x', 'x', 0, repeat('0', 64), 1)",
                "SELECT outbox.add_log_partition('2040-01-01')",
                "CREATE TABLE outbox.log_2040_01 PARTITION OF outbox.log FOR VALUES FROM ('2040-01-01') TO ('2040-02-01')",
            ] {
                #expect(refusal(role, sql) == "42501", "\(role): \(sql)")
            }
        }
        #expect(refusal("b24outbox_producer", "SELECT outbox.ensure_log_partitions(3)") == "42501")
        #expect(refusal("b24outbox_audit", "SELECT outbox.ensure_log_partitions(3)") == "42501")
        #expect(try partitions().contains(try month(0).partition))
    }

    /// Runs `sql` as `role` in a transaction that is rolled back; the SQLSTATE it failed with.
    func refusal(_ role: String, _ sql: String) -> String? {
        db.refusal(as: role, sql)
    }
}
