import Bitrix24
import Hummingbird
import NIOCore
import Outbox
import Postgres

/// `/healthz`, `/readyz` and `/metrics`.
struct HealthEndpoints: Sendable {
    let context: OutboxServer.Context

    /// The process is up and answering.
    func alive() -> Response {
        jsonResponse(.ok, ["status": "alive"])
    }

    /// Ready when the database answers and its schema is current (so stores can succeed); read
    /// at most once a second however often probed.
    func ready() async -> Response {
        switch await context.readiness.read() {
        case .success(true):
            return jsonResponse(.ok, ["status": "ready"])
        case .success(false):
            return jsonResponse(.serviceUnavailable, ["status": "not_ready", "reason": "migrations pending: run b24outbox migrate"])
        case .failure:
            return jsonResponse(.serviceUnavailable, ["status": "not_ready", "reason": "database unreachable"])
        }
    }

    /// Prometheus text format. Gauges of the queue are read from the database (at most once a
    /// second, from counters kept by the database, not by counting intents); when it is down,
    /// `b24outbox_database_up` says so and the counters are still served.
    func metrics() async -> Response {
        switch await context.gauges.read() {
        case .success(let gauges):
            context.metrics.databaseState(intentsByStatus: gauges.intentsByStatus, queueLag: gauges.queueLagSeconds)
            context.metrics.databaseUp(true)
        case .failure:
            context.metrics.databaseUp(false)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: context.registry.emitToBuffer())))
    }
}
