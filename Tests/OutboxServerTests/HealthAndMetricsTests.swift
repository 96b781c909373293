import Bitrix24
import Bitrix24Simulator
import Foundation
import Outbox
import Postgres
import Testing
import TestSupport

@Suite("Health, readiness and metrics", .enabled(if: TestEnvironment.hasDatabase))
struct HealthAndMetricsTests {
    @Test("/metrics parses as Prometheus text and its counters move when work is done")
    func metricsMove() async throws {
        try await ServerHarness.with { h in
            let before = try PrometheusText(try await h.get("/metrics").body)
            #expect(before.value("b24outbox_database_up") == 1)
            #expect(before.value("b24outbox_intents", ["status": "delivered"]) == 0)
            #expect(before.value("b24outbox_inbound_events_total", ["type": "ONIMCONNECTORDIALOGFINISH", "outcome": "stored"]) == nil)

            var first: OutgoingDialogFinish?
            for session in 1...3 {
                let event = await h.simulator.dialogFinishEvent(sessionID: Int64(session))
                first = first ?? event
                #expect(try await EventSender().send(event, to: h.eventsURL) == 200)
            }
            #expect(try await EventSender().send(first!, to: h.eventsURL) == 200, "a redelivery")
            _ = try await h.post("event=X", contentType: "text/plain")
            _ = try Producer.enqueue((1...5).map { .notification(portal: "sim", user: Int64($0), message: "hi \($0)") }, on: h.db)
            // Due but not yet delivered: the queue lags.
            try await Task.sleep(for: .milliseconds(300))
            let waiting = try PrometheusText(try await h.get("/metrics").body)
            #expect((waiting.value("b24outbox_queue_lag_seconds") ?? 0) > 0.2)
            #expect(waiting.value("b24outbox_intents", ["status": "pending"]) == 5)
            try await h.deliver()

            let response = try await h.get("/metrics")
            #expect(response.status == 200)
            let after = try PrometheusText(response.body)
            #expect(after.value("b24outbox_inbound_events_total", ["type": "ONIMCONNECTORDIALOGFINISH", "outcome": "stored"]) == 3)
            #expect(after.value("b24outbox_inbound_events_total", ["type": "ONIMCONNECTORDIALOGFINISH", "outcome": "duplicate"]) == 1)
            #expect(after.value("b24outbox_inbound_events_total", ["type": "unverified", "outcome": "unsupported_media_type"]) == 1)
            #expect(after.value("b24outbox_deliveries_total", ["portal": "sim", "outcome": "delivered"]) == 5)
            #expect(after.value("b24outbox_delivery_latency_seconds_count", ["portal": "sim"]) == 5)
            #expect(after.types["b24outbox_delivery_latency_seconds"] == "histogram")
            #expect(after.value("b24outbox_intents", ["status": "delivered"]) == 5)
            #expect(after.value("b24outbox_intents", ["status": "pending"]) == 0)
            #expect(after.value("b24outbox_queue_lag_seconds") == 0)
        }
    }

    @Test("/readyz fails while the database is unreachable and recovers when it returns; events get 503, never 200")
    func readinessFollowsTheDatabase() async throws {
        try await ServerHarness.with { h in
            #expect(try await h.get("/healthz").status == 200)
            #expect(try await h.get("/readyz").status == 200)
            let name: String = try h.db.query("SELECT current_database()").first!.decode(0)
            let admin = try Connection(TestEnvironment.databaseURL ?? "")
            let quoted = try admin.quoteIdentifier(name)

            try admin.execute("ALTER DATABASE \(quoted) ALLOW_CONNECTIONS false")
            try admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> $2",
                [name, h.db.backendPID])
            let down = try await h.get("/readyz")
            #expect(down.status == 503, "\(down.body)")
            #expect(down.body.contains("database unreachable"))
            #expect(try await h.get("/healthz").status == 200, "alive even without its database")
            let event = try await h.simulator.sendDialogFinish(to: h.eventsURL, sessionID: 77)
            #expect(event == 503)
            let metrics = try PrometheusText(try await h.get("/metrics").body)
            #expect(metrics.value("b24outbox_database_up") == 0)
            #expect(metrics.value("b24outbox_inbound_events_total", ["type": "unverified", "outcome": "unavailable"]) == 1)

            try admin.execute("ALTER DATABASE \(quoted) ALLOW_CONNECTIONS true")
            #expect(try await h.get("/readyz").status == 200)
            #expect(try await h.simulator.sendDialogFinish(to: h.eventsURL, sessionID: 78) == 200)
            #expect(try h.storedEvents == 1, "only the event answered 200 is stored")
        }
    }

    @Test("/readyz fails while migrations are pending")
    func readinessNeedsCurrentSchema() async throws {
        try await ServerHarness.with { h in
            try h.db.execute("DELETE FROM outbox.schema_migrations WHERE name = '004_events.sql'")
            let answer = try await h.get("/readyz")
            #expect(answer.status == 503)
            #expect(answer.body.contains("migrate"))
        }
    }
}
