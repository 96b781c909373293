import Bitrix24
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

@Suite("Least-privilege roles", .enabled(if: TestEnvironment.hasDatabase))
struct RoleTests {
    /// Runs `sql` as `role` (SET ROLE in a transaction that is rolled back) and returns the SQLSTATE it failed with.
    func refusal(_ role: String, _ sql: String, on db: Connection) -> String? {
        db.refusal(as: role, sql)
    }

    @Test("a producer can enqueue through the functions and do nothing else")
    func producer() async throws {
        try await DeliveryHarness.with { h in
            let role = "b24outbox_producer"
            #expect(refusal(role, "SELECT outbox.enqueue_notification('sim', 10, 'hi')", on: h.db) == nil)
            #expect(refusal(role, """
                SELECT outbox.enqueue_many(ARRAY['sim'], ARRAY['notify.personal'], ARRAY['{"USER_ID": 1, "MESSAGE": "x"}'::jsonb],
                                           ARRAY[NULL::text], ARRAY[NULL::timestamptz])
                """, on: h.db) == nil)
            #expect(refusal(role, "SELECT outbox.enqueue_notification('sim', -1, 'hi')", on: h.db) == "22023",
                    "validation still applies")
            for sql in [
                "SELECT count(*) FROM outbox.intents",
                "SELECT count(*) FROM outbox.log",
                "SELECT webhook_code FROM outbox.portals",
                "INSERT INTO outbox.log (stream, type) VALUES ('x', 'intent.enqueued')",
                "UPDATE outbox.intents SET status = 'cancelled'",
                "SELECT outbox.take_rate_slot(1)",
                "SELECT outbox.take_rate_slots(1, 4)",
                "SELECT outbox.record_event(1, 'f', '{}', '[]')",
            ] {
                #expect(refusal(role, sql, on: h.db) == "42501", "\(sql)")
            }
        }
    }

    @Test("a worker delivers and records, and can never change or delete the log")
    func worker() async throws {
        try await DeliveryHarness.with { h in
            _ = try Producer.enqueue((1...20).map { .notification(portal: h.portal, user: Int64($0), message: "role \($0)") }, on: h.db)
            _ = try Producer.enqueue(.chat(portal: h.portal, fields: ["TITLE": "as worker"], key: "role-chat"), on: h.db)
            let login = "b24o_worker_\(UUID().uuidString.prefix(8).lowercased())"
            try h.db.execute("CREATE ROLE \(login) LOGIN IN ROLE b24outbox_worker")
            defer { _ = try? h.db.execute("DROP ROLE IF EXISTS \(login)") }
            let base = h.scratch.conninfo
            let asWorker = base.contains("://") ? Self.uri(base, user: login) : "\(base) user=\(login)"

            try await DeliveryHarness.deliver(conninfo: asWorker)
            #expect(try h.statusCounts() == ["delivered": 21])
            #expect(try Verifier().verify(on: h.db).isConsistent)

            let role = "b24outbox_worker"
            // What serve and events pull do as this role: store an event, read the gauges.
            #expect(refusal(role, #"SELECT outbox.record_event(1, 'role-test', '{"payload": {}}', '[]')"#, on: h.db) == nil)
            #expect(refusal(role, "SELECT status, count(*) FROM outbox.intents GROUP BY status", on: h.db) == nil)
            for sql in [
                "UPDATE outbox.log SET type = 'intent.dead'",
                "DELETE FROM outbox.log",
                "TRUNCATE outbox.log",
                "INSERT INTO outbox.intents (portal_id, kind, payload, idempotency_key) VALUES (1, 'notify.personal', '{}', 'k')",
                "DELETE FROM outbox.intents",
                "DELETE FROM outbox.portals",
                // The database sets seq and recorded_at: no backdated entry, no chosen (duplicate) seq.
                "INSERT INTO outbox.log (recorded_at, stream, type) VALUES (now() - interval '400 days', 'x', 'intent.enqueued')",
                "INSERT INTO outbox.log (seq, stream, type) OVERRIDING SYSTEM VALUE VALUES (1, 'x', 'intent.enqueued')",
                "INSERT INTO outbox.log OVERRIDING SYSTEM VALUE SELECT * FROM outbox.log",
                "COPY outbox.log (seq, recorded_at, stream, type) FROM STDIN",
                "COPY outbox.log FROM STDIN",
            ] {
                #expect(refusal(role, sql, on: h.db) == "42501", "\(sql)")
            }
            #expect(refusal(role, "INSERT INTO outbox.log (stream, type, intent_id, portal_id, data) VALUES ('x', 'intent.enqueued', NULL, NULL, '{}')", on: h.db) == nil,
                    "appends naming the columns it may")
            let duplicates = try h.db.query("SELECT count(*) - count(DISTINCT seq) FROM outbox.log").first!.decode(0, as: Int.self)
            #expect(duplicates == 0)
        }
    }

    @Test("an auditor reads the log, the intents and the portals, never a secret, and writes nothing")
    func audit() async throws {
        try await DeliveryHarness.with { h in
            _ = try Producer.enqueue(.notification(portal: h.portal, user: 1, message: "audited"), on: h.db)
            let role = "b24outbox_audit"
            for sql in [
                "SELECT count(*) FROM outbox.log",
                "SELECT count(*) FROM outbox.intents",
                "SELECT name, base_url, member_id, rate_bucket FROM outbox.portals",
            ] {
                #expect(refusal(role, sql, on: h.db) == nil, "\(sql)")
            }
            for sql in [
                "SELECT webhook_code FROM outbox.portals",
                "SELECT access_token, refresh_token FROM outbox.portals",
                "SELECT client_secret FROM outbox.portals",
                "SELECT application_token FROM outbox.portals",
                "SELECT * FROM outbox.portals",
                "INSERT INTO outbox.log (stream, type) VALUES ('x', 'intent.enqueued')",
                "UPDATE outbox.intents SET attempts = 0",
                "SELECT outbox.enqueue_notification('sim', 10, 'hi')",
            ] {
                #expect(refusal(role, sql, on: h.db) == "42501", "\(sql)")
            }
        }
    }

    @Test("neither the auditor nor a login with nothing but schema USAGE can send or spend a portal's rate budget")
    func noSendingWithoutTheRole() async throws {
        try await DeliveryHarness.with { h in
            let usageOnly = "b24o_usage_\(UUID().uuidString.prefix(8).lowercased())"
            try h.db.execute("CREATE ROLE \(usageOnly) NOLOGIN")
            try h.db.execute("GRANT USAGE ON SCHEMA outbox TO \(usageOnly)")
            defer {
                _ = try? h.db.execute("REVOKE ALL ON SCHEMA outbox FROM \(usageOnly)")
                _ = try? h.db.execute("DROP ROLE IF EXISTS \(usageOnly)")
            }
            for role in ["b24outbox_audit", usageOnly] {
                for sql in [
                    #"SELECT outbox.enqueue('sim', 'notify.personal', '{"USER_ID": 1, "MESSAGE": "sent by a reader"}')"#,
                    "SELECT outbox.enqueue_notification('sim', 1, 'sent by a reader')",
                    "SELECT outbox.enqueue_chat('sim', '{\"TITLE\": \"by a reader\"}')",
                    "SELECT outbox.take_rate_slots(1, 50)",
                    "SELECT outbox.take_rate_slot(1)",
                    "SELECT outbox.note_rate_limited(1)",
                    "SELECT outbox.is_plain_notification('notify.personal', '{}', 'k')",
                    "SELECT outbox.ensure_log_partitions(1)",
                ] {
                    #expect(refusal(role, sql, on: h.db) == "42501", "\(role): \(sql)")
                }
            }
            #expect(try h.statusCounts() == [:], "nothing was enqueued")
        }
    }

    static func uri(_ conninfo: String, user: String) -> String {
        guard var url = URLComponents(string: conninfo) else { return conninfo }
        url.user = user
        url.password = nil
        return url.string ?? conninfo
    }
}
