import Bitrix24
import Bitrix24Wire
import Hummingbird
import Logging
import NIOCore
import Outbox
import Postgres
import Prometheus

/// The HTTP side of b24outbox: Bitrix24's event handler, health, readiness and metrics.
///
/// | route | answers |
/// |---|---|
/// | `POST /bitrix24/events` | stores a verified event, 200 only after the commit |
/// | `GET /healthz` | 200 while the process runs |
/// | `GET /readyz` | 200 when the database is reachable and its schema current, else 503 |
/// | `GET /metrics` | Prometheus text format |
public enum OutboxServer {
    public struct Configuration: Sendable {
        /// Default `127.0.0.1`; `0.0.0.0` to accept connections from other hosts.
        public var host = "127.0.0.1"
        /// Default 8080; 0 lets the system pick one.
        public var port = 8080
        /// Larger event bodies are refused with 413. Default 1 MiB.
        public var maxEventBytes = 1 << 20
        /// Events with more fields (form pairs, or JSON values) are refused with 413. Default 1,000.
        public var maxEventFields = Bitrix24Event.defaultLimits.maxPairs

        public init() {}
    }

    /// What the routes share.
    public struct Context: Sendable {
        /// For `/readyz` and `/metrics`.
        public var database: DatabaseExecutor
        /// For events only, so neither scrapes nor strangers take the connections genuine
        /// events are stored on.
        public var eventDatabase: DatabaseExecutor
        /// Who may send events, read through `eventDatabase`.
        public var senders: SenderDirectory
        /// `/metrics` and `/readyz` read the database at most once per interval each, however
        /// often they are asked.
        public let gauges: SharedRead<Stats.Gauges>
        public let readiness: SharedRead<Bool>
        public var metrics: OutboxMetrics
        /// Where `/metrics` reads from: the registry behind `metrics`.
        public var registry: PrometheusCollectorRegistry
        public var logger: Logger

        public init(
            database: DatabaseExecutor, eventDatabase: DatabaseExecutor, metrics: OutboxMetrics,
            registry: PrometheusCollectorRegistry, logger: Logger,
            senders: SenderDirectory.Configuration = .init(), statusInterval: Duration = .seconds(1)
        ) {
            self.database = database
            self.eventDatabase = eventDatabase
            self.senders = SenderDirectory(configuration: senders) {
                try await eventDatabase.run(retryOnConnectionLoss: true) { db in try EventStore.senders(on: db) }
            }
            self.gauges = SharedRead(interval: statusInterval) {
                try await database.run(retryOnConnectionLoss: true) { db in try Stats.gauges(on: db) }
            }
            self.readiness = SharedRead(interval: statusInterval) {
                try await database.run(retryOnConnectionLoss: true) { db in try Migrator().isCurrent(on: db) }
            }
            self.metrics = metrics
            self.registry = registry
            self.logger = logger
        }
    }

    /// The application, to run on its own (`runService()`) or in a `ServiceGroup`.
    ///
    /// - Parameter onServerRunning: called with the port once the server accepts connections.
    public static func application(
        _ configuration: Configuration, context: Context,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        let events = EventEndpoint(
            context: context, maxBytes: configuration.maxEventBytes,
            limits: PHPForm.Limits(maxPairs: configuration.maxEventFields))
        router.post("/bitrix24/events") { request, _ in await events.handle(request) }
        let health = HealthEndpoints(context: context)
        router.get("/healthz") { _, _ in health.alive() }
        router.get("/readyz") { _, _ in await health.ready() }
        router.get("/metrics") { _, _ in await health.metrics() }
        return Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "b24outbox"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
            logger: context.logger)
    }
}

/// A JSON answer.
func jsonResponse(_ status: HTTPResponse.Status, _ body: JSONValue) -> Response {
    Response(
        status: status, headers: [.contentType: "application/json"],
        body: .init(byteBuffer: ByteBuffer(string: body.jsonString)))
}
