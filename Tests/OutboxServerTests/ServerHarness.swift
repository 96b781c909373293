import AsyncHTTPClient
import Bitrix24
import Bitrix24Simulator
import Foundation
import Logging
import NIOCore
import Outbox
import OutboxApp
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
    /// Built as `serve` builds them, with a registry of their own.
    let services: OutboxServices
    let port: Int
    private let server: Task<Void, any Error>

    var database: DatabaseExecutor { services.database }
    var eventDatabase: DatabaseExecutor { services.eventDatabase }
    var context: OutboxServer.Context { services.context }
    var registry: PrometheusCollectorRegistry { services.registry }
    var metrics: OutboxMetrics { services.metrics }

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
        let (scratch, db) = try simulatorDatabase(simulator, configuration: configuration)

        var logger = Logger(label: "test.server")
        logger.logLevel = .critical
        var app = AppConfiguration(conninfo: scratch.conninfo)
        app.server.port = 0
        app.statusInterval = statusInterval
        configure(&app.server)
        let services = OutboxServices(app, logger: logger, bootstrapMetrics: false)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let application = services.server(onServerRunning: { continuation.yield($0) })
        let server = Task { try await application.run() }
        var port = 0
        for await first in ports { port = first; break }

        let harness = ServerHarness(scratch: scratch, db: db, simulator: simulator, services: services, port: port, server: server)
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
        services.shutdown()
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
        let (pool, clients) = OutboxServices.workerPool(configuration, conninfo: scratch.conninfo, logger: logger)
        await pool.runUntilStopped()
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
