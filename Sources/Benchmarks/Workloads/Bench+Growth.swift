import Bitrix24Wire
import Foundation
import Outbox
import Postgres

extension Bench {
    /// W5: W1 again on a database that already holds a long history: delivered intents and
    /// their log entries, plus inbound events, as months of production leave them.
    func growthWorkload() async throws -> BenchReport.W5 {
        let entries = configuration.w5LogEntries
        let history = configuration.w5DeliveredIntents
        let runs = try await drain(
            configuration.w1Intents, batch: 50, concurrency: configuration.concurrency, runs: configuration.drainRuns,
            name: "w5"
        ) { db, portalID in
            try fillHistory(intents: history, logEntries: entries, portalID: portalID, on: db)
        }
        let best = runs.max { $0.intentsPerSecond < $1.intentsPerSecond }!
        return .init(
            logEntries: entries, deliveredIntents: history, intents: best.intents, seconds: best.seconds,
            intentsPerSecond: best.intentsPerSecond, processSeconds: best.processSeconds,
            runsIntentsPerSecond: runs.map(\.intentsPerSecond), relativeToW1: nil)
    }

    /// Delivered intents with their enqueued, claimed and succeeded entries, and inbound events
    /// in the portal's stream for the rest of the entries. Written set-based, then analysed as
    /// autovacuum would have done over those months.
    private func fillHistory(intents: Int, logEntries: Int, portalID: Int64, on db: Connection) throws {
        guard logEntries >= 3 * intents else {
            throw BenchError("w5: \(logEntries) log entries cannot hold 3 entries for each of \(intents) intents")
        }
        progress("w5: writing \(intents.formatted()) delivered intents and \(logEntries.formatted()) log entries of history")
        let started = ContinuousClock.now
        try db.execute("""
            INSERT INTO outbox.intents (portal_id, kind, payload, idempotency_key, status, attempts, next_attempt_at,
                                        result_id, created_at, updated_at, delivered_at)
            SELECT $1, 'notify.personal',
                   jsonb_build_object('USER_ID', 1 + g % 1000, 'TAG', 'b24o:history-' || g,
                       'MESSAGE', 'Order #' || g || ' has shipped and will arrive on Thursday. Track it in your account.'),
                   'history-' || g, 'delivered', 1, t, g, t, t, t
              FROM generate_series(1, $2) AS g,
                   LATERAL (SELECT now() - interval '90 days' + g * (interval '90 days' / $2)) AS at(t)
            """, [portalID, intents])
        // Their keys, as the enqueue functions would have registered them.
        try db.execute("""
            INSERT INTO outbox.intent_keys (portal_id, kind, idempotency_key, intent_id)
            SELECT portal_id, kind, idempotency_key, id FROM outbox.intents WHERE status = 'delivered'
            """)
        // recorded_at keeps its default: the history lands where the log's storage expects new rows.
        try db.execute("""
            INSERT INTO outbox.log (stream, type, intent_id, portal_id, data)
            SELECT 'intent-' || i.id, step.type, i.id, i.portal_id,
                   CASE step.n
                       WHEN 1 THEN jsonb_build_object('kind', i.kind, 'key', i.idempotency_key, 'payload', i.payload)
                       WHEN 2 THEN jsonb_build_object('worker', 'history/1', 'attempt', 1)
                       ELSE jsonb_build_object('worker', 'history/1', 'attempt', 1, 'http_status', 200,
                                               'result_id', i.result_id, 'duration_ms', 12.5)
                   END
              FROM outbox.intents i,
                   (VALUES (1, 'intent.enqueued'), (2, 'intent.claimed'), (3, 'delivery.succeeded')) AS step(n, type)
             WHERE i.status = 'delivered'
             ORDER BY i.id, step.n
            """)
        try db.execute("""
            INSERT INTO outbox.log (stream, type, portal_id, data)
            SELECT 'portal-bench', 'bitrix.event', $1,
                   jsonb_build_object('event', 'ONIMCONNECTORDIALOGFINISH', 'data',
                       jsonb_build_object('CONNECTOR', 'newcustomconnector', 'LINE', 105, 'SESSION_ID', g, 'CHAT_ID', g % 5000))
              FROM generate_series(1, $2) AS g
            """, [portalID, logEntries - 3 * intents])
        try db.execute("VACUUM ANALYZE outbox.intents")
        try db.execute("VACUUM ANALYZE outbox.intent_keys")
        try db.execute("VACUUM ANALYZE outbox.log")
        try checkpoint(db)
        // And the operating system writes it out now, not during the first drains: months of
        // history are on disk already, not gigabytes of dirty pages just handed to the kernel.
        sync()
        progress("w5: history written in \(String(format: "%.0f", (ContinuousClock.now - started).inSeconds)) s")
    }
}
