import ArgumentParser
import Bitrix24
import Foundation
import Logging
import Metrics
import Outbox
import OutboxApp
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
        let services = OutboxServices(server.configuration(conninfo: database.conninfo), logger: Logger(label: "b24outbox.serve"), bootstrapMetrics: true)
        defer { services.shutdown() }
        try await services.serviceGroup(pool: nil, gracefulShutdownSignals: [.sigterm, .sigint]).run()
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
        var configuration = server.configuration(conninfo: database.conninfo)
        configuration.worker = worker.configuration
        let services = OutboxServices(configuration, logger: Logger(label: "b24outbox.run"), bootstrapMetrics: true)
        defer { services.shutdown() }
        let (pool, clients) = services.workerPool()
        defer { try? clients.shutdown() }
        try await services.serviceGroup(pool: pool, gracefulShutdownSignals: [.sigterm, .sigint]).run()
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

    func configuration(conninfo: String) -> AppConfiguration {
        var configuration = AppConfiguration(conninfo: conninfo)
        configuration.server.host = host
        configuration.server.port = port
        configuration.server.maxEventFields = maxEventFields
        configuration.eventConnections = databaseConnections
        return configuration
    }
}
