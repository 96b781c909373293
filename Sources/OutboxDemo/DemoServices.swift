import Bitrix24
import Bitrix24Simulator
import Foundation
import Logging
import Outbox
import OutboxApp
import Postgres
import ServiceLifecycle

/// What the demo runs in its own process: a simulated portal, `serve` and a worker pool,
/// wired exactly as `simulate` and `run` wire them.
struct DemoServices: Sendable {
    struct Settings: Sendable {
        var portalName: String
        var workers = 4
        var faultRate = 0.15
        var seed: UInt64 = 8
        /// Deadline of one Bitrix24 call; a lease is twice as long (as `worker` requires).
        var requestTimeout: Duration = .seconds(3)
        /// Short backoff so the demo ends in seconds; production's default caps at 300 s.
        var retry = RetryPolicy(base: .milliseconds(500), cap: .seconds(2), maxAttempts: 10)
        /// The simulated portal finishes every call within a second of its client's deadline
        /// (its slow answers come 1 s late), so a chat whose answer was lost is looked up
        /// again after 1 s, not the 60 s a real portal may take.
        var portalExecutionLimit: Duration = .seconds(1)
    }

    let settings: Settings
    let simulator: Simulator
    let services: OutboxServices
    let portal: Portal
    let pool: WorkerPool
    let clients: PortalClients
    let serverPort: Int
    private let group: ServiceGroup
    private let running: Task<Void, any Error>

    var database: DatabaseExecutor { services.database }
    var eventsURL: URL { URL(string: "http://127.0.0.1:\(serverPort)/bitrix24/events")! }

    /// A portal with Bitrix24's standard rate limit, `faultRate` of its requests failing in every
    /// way the simulator knows, and secrets drawn for this run only.
    static func simulatorConfiguration(_ settings: Settings) -> Simulator.Configuration {
        var c = Simulator.Configuration()
        c.users = UserSet(DemoMix.knownUsers)
        c.rateLimit = .init(capacity: 50, drainPerSecond: 2)
        // About what a cloud portal takes for a batch of notifications.
        c.latency = .milliseconds(300)
        let rate = settings.faultRate
        c.faults.failBefore = rate * 0.3
        c.faults.failAfter = rate * 0.2
        c.faults.dropAfter = rate * 0.15
        c.faults.html502 = rate * 0.2
        c.faults.slow = rate * 0.15
        c.faults.slowDelay = settings.requestTimeout + .seconds(1)
        c.faults.seed = settings.seed
        c.webhookCode = String(OutgoingDialogFinish.randomToken().prefix(16))
        c.applicationToken = String(OutgoingDialogFinish.randomToken().prefix(32))
        c.memberID = String(OutgoingDialogFinish.randomToken().prefix(32))
        c.oauth.accessToken = OutgoingDialogFinish.randomToken()
        c.oauth.refreshToken = OutgoingDialogFinish.randomToken()
        c.oauth.clientSecret = OutgoingDialogFinish.randomToken()
        return c
    }

    /// Starts everything; on failure stops what had started.
    static func start(_ settings: Settings, conninfo: String, logger: Logger) async throws -> DemoServices {
        let simulator = try await Simulator.start(simulatorConfiguration(settings))
        var configuration = AppConfiguration(conninfo: conninfo)
        configuration.server.host = "127.0.0.1"
        configuration.server.port = 0
        let services = OutboxServices(configuration, logger: logger, bootstrapMetrics: true)
        do {
            let c = simulator.configuration
            let registration = PortalRegistration(
                name: settings.portalName, credentials: try .webhook(simulator.webhookURL, allowInsecureHTTP: true),
                applicationToken: c.applicationToken, memberID: c.memberID, domain: c.domain)
            let portal = try await services.database.run { db in try PortalStore.add(registration, on: db) }

            var worker = WorkerPool.Configuration()
            worker.concurrency = settings.workers
            worker.lease = settings.requestTimeout * 2
            worker.requestTimeout = settings.requestTimeout
            worker.retry = settings.retry
            worker.portalExecutionLimit = settings.portalExecutionLimit
            worker.portals = [portal.id]
            worker.name = "demo-\(getpid())"
            worker.metrics = services.metrics
            let (pool, clients) = OutboxServices.workerPool(worker, conninfo: conninfo, logger: logger)

            let (ports, continuation) = AsyncThrowingStream<Int, any Error>.makeStream()
            let group = services.serviceGroup(pool: pool, onServerRunning: { continuation.yield($0) })
            let running = Task {
                do {
                    try await group.run()
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                    throw error
                }
            }
            var serverPort: Int?
            do {
                for try await port in ports {
                    serverPort = port
                    break
                }
            } catch {
                try? await clients.shutdown()
                throw DemoError("serve could not start: \(error)")
            }
            guard let serverPort else {
                // Interrupted while starting: the pool stops before its clients go.
                running.cancel()
                _ = await running.result
                try? await clients.shutdown()
                throw CancellationError()
            }
            return DemoServices(
                settings: settings, simulator: simulator, services: services, portal: portal, pool: pool, clients: clients,
                serverPort: serverPort, group: group, running: running)
        } catch {
            services.shutdown()
            await simulator.stop()
            throw error
        }
    }

    /// Stops the workers (calls in flight finish, the rest is released), then `serve`, then the portal.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await running.result
        try? await clients.shutdown()
        services.shutdown()
        await simulator.stop()
    }
}
