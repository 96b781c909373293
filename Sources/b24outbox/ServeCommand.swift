import ArgumentParser
import Bitrix24
import Foundation
import Logging
import Metrics
import Outbox
import OutboxServer
import Postgres
import Prometheus
import ServiceLifecycle

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Answer Bitrix24's event POSTs, health checks and Prometheus scrapes.",
        discussion: """
            POST /bitrix24/events stores each verified event once and answers 200 only after the commit.
            GET /healthz, /readyz (database reachable, schema current) and /metrics (Prometheus).
            SIGINT or SIGTERM finishes the requests in flight and exits 0.
            """)

    @OptionGroup var server: ServerOptions
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        try database.requireCurrentSchema()
        let logger = Logger(label: "b24outbox.serve")
        let runtime = ServerRuntime(conninfo: database.conninfo, server: server, logger: logger)
        defer { runtime.shutdown() }
        try await ServiceGroup(configuration: .init(
            services: [
                .init(service: runtime.application()),
                .init(service: MaintenanceService(maintenance: Maintenance(conninfo: database.conninfo, logger: logger))),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)).run()
    }
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "serve and worker in one process.",
        discussion: "Both run under one service group: SIGINT or SIGTERM stops both gracefully and exits 0.")

    @OptionGroup var server: ServerOptions
    @OptionGroup var worker: WorkerOptions
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        try database.requireCurrentSchema()
        let logger = Logger(label: "b24outbox.run")
        let runtime = ServerRuntime(conninfo: database.conninfo, server: server, logger: logger)
        defer { runtime.shutdown() }
        let (pool, clients) = worker.makePool(conninfo: database.conninfo, logger: logger, metrics: runtime.metrics)
        defer { try? clients.shutdown() }
        try await ServiceGroup(configuration: .init(
            services: [.init(service: runtime.application()), .init(service: WorkerService(pool: pool))],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)).run()
    }
}

/// Where `serve` listens.
struct ServerOptions: ParsableArguments {
    @Option(help: "Address to listen on (0.0.0.0 for every interface).") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8080
    @Option(help: "Database connections for storing events (health and metrics have one of their own).")
    var databaseConnections = 4
    @Option(help: "Fields (form pairs or JSON values) an event may hold; more are refused with 413.")
    var maxEventFields = Bitrix24Event.defaultLimits.maxPairs

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard (1...256).contains(databaseConnections) else {
            throw ValidationError("--database-connections must be between 1 and 256")
        }
        guard (1...100_000).contains(maxEventFields) else { throw ValidationError("--max-event-fields must be between 1 and 100000") }
    }
}

/// The parts `serve`, `run` and `demo` share: metrics exported through Prometheus, and database
/// threads: those that store events, and one of its own for health, metrics and maintenance.
struct ServerRuntime {
    let database: DatabaseExecutor
    let eventDatabase: DatabaseExecutor
    let registry = PrometheusCollectorRegistry()
    let metrics: OutboxMetrics
    let configuration: OutboxServer.Configuration
    let logger: Logger

    init(conninfo: String, configuration: OutboxServer.Configuration, databaseConnections: Int, logger: Logger) {
        let factory = PrometheusMetricsFactory(registry: registry)
        // Once per process: libraries recording through swift-metrics land in the same registry.
        MetricsSystem.bootstrap(factory)
        self.metrics = OutboxMetrics(factory: factory)
        var events = DatabaseExecutor.Configuration()
        events.threads = databaseConnections
        self.eventDatabase = DatabaseExecutor(conninfo: conninfo, configuration: events)
        var status = DatabaseExecutor.Configuration()
        status.threads = 1
        self.database = DatabaseExecutor(conninfo: conninfo, configuration: status)
        self.configuration = configuration
        self.logger = logger
    }

    init(conninfo: String, server: ServerOptions, logger: Logger) {
        var configuration = OutboxServer.Configuration()
        configuration.host = server.host
        configuration.port = server.port
        configuration.maxEventFields = server.maxEventFields
        self.init(conninfo: conninfo, configuration: configuration, databaseConnections: server.databaseConnections, logger: logger)
    }

    /// - Parameter onServerRunning: called with the port once the server accepts connections.
    func application(onServerRunning: (@Sendable (Int) async -> Void)? = nil) -> some Service {
        let logger = logger
        return OutboxServer.application(
            configuration,
            context: .init(database: database, eventDatabase: eventDatabase, metrics: metrics, registry: registry, logger: logger),
            onServerRunning: onServerRunning ?? { port in logger.notice("listening", metadata: ["port": "\(port)"]) })
    }

    func shutdown() {
        eventDatabase.shutdown()
        database.shutdown()
    }
}
