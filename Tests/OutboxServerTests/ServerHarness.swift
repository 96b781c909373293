import AsyncHTTPClient
import Bitrix24
import Bitrix24Simulator
import Foundation
import Logging
import NIOCore
import Outbox
import OutboxServer
import Postgres
import Prometheus
import Testing
import TestSupport

/// A scratch database with the schema and a simulator portal registered in it, the server
/// running on a port of its own, and metrics in a registry of its own.
struct ServerHarness {
    let scratch: ScratchDatabase
    let db: Connection
    let simulator: Simulator
    let database: DatabaseExecutor
    let eventDatabase: DatabaseExecutor
    let context: OutboxServer.Context
    let registry: PrometheusCollectorRegistry
    let metrics: OutboxMetrics
    let port: Int
    private let server: Task<Void, any Error>

    var eventsURL: URL { URL(string: "http://127.0.0.1:\(port)/bitrix24/events")! }
    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// - Parameter statusInterval: how long a scrape's reading serves other scrapes; none by
    ///   default, so each test's scrape sees what it just did.
    static func with(
        statusInterval: Duration = .zero, configure: (inout OutboxServer.Configuration) -> Void = { _ in },
        _ body: (ServerHarness) async throws -> Void
    ) async throws {
        var configuration = Simulator.Configuration()
        configuration.rateLimit = nil
        let simulator = try await Simulator.start(configuration)
        let scratch = try ScratchDatabase()
        let db = try scratch.connect()
        try Migrator().migrate(on: db)
        try PortalStore.add(PortalRegistration(
            name: "sim", credentials: try .webhook(simulator.webhookURL, allowInsecureHTTP: true),
            applicationToken: configuration.applicationToken, memberID: configuration.memberID,
            domain: configuration.domain, rateBucket: 1_000_000, rateDrain: 1_000_000), on: db)

        let registry = PrometheusCollectorRegistry()
        let metrics = OutboxMetrics(factory: PrometheusMetricsFactory(registry: registry))
        let database = DatabaseExecutor(conninfo: scratch.conninfo)
        let eventDatabase = DatabaseExecutor(conninfo: scratch.conninfo)
        var logger = Logger(label: "test.server")
        logger.logLevel = .critical
        var serverConfiguration = OutboxServer.Configuration()
        serverConfiguration.port = 0
        configure(&serverConfiguration)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let context = OutboxServer.Context(
            database: database, eventDatabase: eventDatabase, metrics: metrics, registry: registry, logger: logger,
            statusInterval: statusInterval)
        let application = OutboxServer.application(
            serverConfiguration, context: context,
            onServerRunning: { continuation.yield($0) })
        let server = Task { try await application.run() }
        var port = 0
        for await first in ports { port = first; break }

        let harness = ServerHarness(
            scratch: scratch, db: db, simulator: simulator, database: database, eventDatabase: eventDatabase,
            context: context, registry: registry, metrics: metrics,
            port: port, server: server)
        do {
            try await body(harness)
        } catch {
            await harness.stop()
            throw error
        }
        await harness.stop()
    }

    private func stop() async {
        server.cancel()
        _ = await server.result
        eventDatabase.shutdown()
        database.shutdown()
        await simulator.stop()
    }

    func count(_ sql: String, _ parameters: [any PostgresEncodable] = []) throws -> Int {
        try db.query(sql, parameters).first!.decode(0)
    }

    var storedEvents: Int {
        get throws { try count("SELECT count(*) FROM outbox.log WHERE type = 'bitrix.event'") }
    }

    var logEntries: Int {
        get throws { try count("SELECT count(*) FROM outbox.log") }
    }

    /// POSTs a body as it is; returns the status and the answer.
    func post(_ body: String, contentType: String?) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: eventsURL.absoluteString)
        request.method = .POST
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        request.body = .bytes(ByteBuffer(string: body))
        return try await send(request)
    }

    func get(_ path: String) async throws -> (status: Int, body: String) {
        try await send(HTTPClientRequest(url: url(path)))
    }

    private func send(_ request: HTTPClientRequest) async throws -> (status: Int, body: String) {
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), String(buffer: body))
    }

    /// Delivers what is pending with a pool whose metrics go to this harness's registry.
    func deliver() async throws {
        var configuration = WorkerPool.Configuration()
        configuration.untilIdle = true
        configuration.idlePoll = .milliseconds(100)
        configuration.name = "test"
        configuration.metrics = metrics
        var logger = Logger(label: "test.worker")
        logger.logLevel = .critical
        let clients = PortalClients(conninfo: scratch.conninfo, logger: logger)
        await WorkerPool(conninfo: scratch.conninfo, configuration: configuration, clients: clients, logger: logger)
            .runUntilStopped()
        try await clients.shutdown()
    }

    /// Rows in every table of the schema.
    func everyTableCount() throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for table in try tables() {
            counts[table] = try db.query("SELECT count(*) FROM outbox.\(table)").first!.decode(0)
        }
        return counts
    }

    private func tables() throws -> [String] {
        try db.query("""
            SELECT quote_ident(table_name) FROM information_schema.tables
             WHERE table_schema = 'outbox' AND table_type = 'BASE TABLE' ORDER BY 1
            """).map { try $0.decode(0) }
    }

    /// Every table the outbox writes, as text, for secret scans.
    func everyTable() throws -> String {
        var text = ""
        for table in try tables() {
            text += try db.query("SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM outbox.\(table) t").first!.decode(0, as: String.self)
        }
        return text
    }
}
