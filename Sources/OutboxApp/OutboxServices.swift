import Bitrix24
import Logging
import Metrics
import Outbox
import OutboxServer
import Postgres
import Prometheus
import ServiceLifecycle
import UnixSignals

/// The composition root: one process's services, built from an `AppConfiguration`. The CLI
/// (`serve`, `worker`, `run`), the demo, the bench's children and the tests build them here and
/// nowhere else, so each is wired the same way everywhere.
///
/// It holds the metrics registry and the database threads of the HTTP side (one for health,
/// readiness and metrics, `eventConnections` for events); the worker pool brings its own.
public final class OutboxServices: Sendable {
    public let configuration: AppConfiguration
    public let registry: PrometheusCollectorRegistry
    public let metrics: OutboxMetrics
    /// For `/readyz` and `/metrics`.
    public let database: DatabaseExecutor
    /// For events only, so neither scrapes nor strangers take the connections genuine events are stored on.
    public let eventDatabase: DatabaseExecutor
    public let context: OutboxServer.Context
    public let logger: Logger

    /// - Parameter bootstrapMetrics: make the registry the process's swift-metrics backend too,
    ///   so libraries' metrics land in it; once per process (the CLI), never in tests.
    public init(_ configuration: AppConfiguration, logger: Logger, bootstrapMetrics: Bool) {
        self.configuration = configuration
        self.logger = logger
        let registry = PrometheusCollectorRegistry()
        let factory = PrometheusMetricsFactory(registry: registry)
        if bootstrapMetrics { MetricsSystem.bootstrap(factory) }
        self.registry = registry
        self.metrics = OutboxMetrics(factory: factory)
        var events = DatabaseExecutor.Configuration()
        events.threads = configuration.eventConnections
        self.eventDatabase = DatabaseExecutor(conninfo: configuration.conninfo, configuration: events)
        var status = DatabaseExecutor.Configuration()
        status.threads = 1
        self.database = DatabaseExecutor(conninfo: configuration.conninfo, configuration: status)
        self.context = OutboxServer.Context(
            database: database, eventDatabase: eventDatabase, metrics: metrics, registry: registry, logger: logger,
            statusInterval: configuration.statusInterval)
    }

    /// The HTTP server: Bitrix24's events, health, readiness and Prometheus metrics.
    /// - Parameter onServerRunning: called with the port once it accepts connections.
    public func server(onServerRunning: (@Sendable (Int) async -> Void)? = nil) -> some Service {
        let logger = logger
        return OutboxServer.application(
            configuration.server, context: context,
            onServerRunning: onServerRunning ?? { port in logger.notice("listening", metadata: ["port": "\(port)"]) })
    }

    /// The worker pool of this configuration, reporting to this registry, and the portal
    /// clients it calls through (shut those down after the pool stops).
    public func workerPool() -> (WorkerPool, PortalClients) {
        var worker = configuration.worker
        worker.metrics = metrics
        return Self.workerPool(worker, conninfo: configuration.conninfo, logger: logger)
    }

    /// `serve` (no pool: maintenance runs on its own) or `run` (the pool, which runs the
    /// maintenance), as one group: graceful shutdown stops the pool first, then the server.
    public func serviceGroup(
        pool: WorkerPool?, gracefulShutdownSignals: [UnixSignal] = [],
        onServerRunning: (@Sendable (Int) async -> Void)? = nil
    ) -> ServiceGroup {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: server(onServerRunning: onServerRunning))]
        if let pool {
            services.append(.init(service: WorkerService(pool: pool)))
        } else {
            // Partitions only: reaping is the pools', whose settings decide when a reaped chat is due.
            var maintenance = Maintenance.Configuration()
            maintenance.jobs = [.partitions]
            services.append(.init(service: MaintenanceService(
                maintenance: Maintenance(conninfo: configuration.conninfo, configuration: maintenance, logger: logger))))
        }
        return ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: gracefulShutdownSignals, logger: logger))
    }

    /// Stops the database threads (after the services have stopped).
    public func shutdown() {
        eventDatabase.shutdown()
        database.shutdown()
    }

    /// A worker pool and the portal clients it calls through, for a process without the HTTP
    /// side (`worker`, the tests' pools): `configuration.metrics` receives its metrics.
    public static func workerPool(
        _ configuration: WorkerPool.Configuration, conninfo: String, clients: PortalClients? = nil, logger: Logger
    ) -> (WorkerPool, PortalClients) {
        let clients = clients ?? portalClients(for: configuration, conninfo: conninfo, logger: logger)
        return (WorkerPool(conninfo: conninfo, configuration: configuration, clients: clients, logger: logger), clients)
    }

    /// The Bitrix24 clients a pool with `configuration` calls through: its request timeout, and
    /// enough connections per portal for every worker thread.
    public static func portalClients(for configuration: WorkerPool.Configuration, conninfo: String, logger: Logger) -> PortalClients {
        var client = Bitrix24Client.Configuration()
        client.requestTimeout = configuration.requestTimeout
        client.maxConnectionsPerHost = max(16, configuration.concurrency)
        return PortalClients(conninfo: conninfo, configuration: client, logger: logger, metrics: configuration.metrics)
    }
}
