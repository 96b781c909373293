import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Foundation
import Logging
import Outbox
import Postgres

/// `b24outbox demo`: the product end to end, stage by stage, each explained as it runs.
public struct Demo: Sendable {
    /// What `b24outbox demo`'s options choose.
    public struct Options: Sendable {
        /// Notifications to enqueue, those to unknown users included.
        public var notifications = 1000
        public var chats = 20
        /// Notifications to users the portal does not have (they die; one is replayed).
        public var unknownUsers = 5
        /// Share of Bitrix24 requests that fail, spread over every kind of fault.
        public var faultRate = 0.15
        /// Seed of the simulator's faults: 8 draws every kind within the default mix's few dozen requests.
        public var seed: UInt64 = 8
        public var workers = 4
        /// A database to use instead of a throw-away cluster.
        public var databaseURL: String?
        /// Give up when delivery takes longer.
        public var deliveryTimeout: Duration = .seconds(90)
        /// The portal the demo registers: `demo-TIME-XXXX`, new for every run.
        public var portalName = Demo.newPortalName()

        public init() {}
    }

    var mix: DemoMix
    var settings: DemoServices.Settings
    var databaseURL: String?
    var deliveryTimeout: Duration
    let report = DemoReport(stages: 11)

    public init(_ options: Options) {
        mix = DemoMix(portal: options.portalName, notifications: options.notifications, chats: options.chats,
                      unknownUsers: options.unknownUsers)
        settings = DemoServices.Settings(portalName: options.portalName)
        settings.workers = options.workers
        settings.faultRate = options.faultRate
        settings.seed = options.seed
        databaseURL = options.databaseURL
        deliveryTimeout = options.deliveryTimeout
    }

    /// `demo-20261203-181500-3fa9`: the time in UTC and a random part.
    public static func newPortalName() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = .gmt
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return "demo-\(formatter.string(from: Date()))-\(String(UInt16.random(in: .min ... .max), radix: 16))"
    }

    /// Prints a line at once, also into a pipe (the demo's progress shows as it happens).
    public static func say(_ text: String) {
        DemoReport.write(text)
    }

    public func run() async throws {
        let started = ContinuousClock.now
        DemoReport.write("""
            b24outbox demo: \(mix.notifications.grouped) notifications and \(mix.chats) chats through a simulated \
            Bitrix24 portal with faults and Bitrix24's rate limit, an event handler, and a worker pool.
            """)
        report.stage(1, "Database")
        let cluster = databaseURL == nil ? try ThrowawayPostgres.start() : nil
        defer { cluster?.stop() }
        let conninfo = cluster?.conninfo ?? databaseURL ?? ""
        if let cluster {
            report.say("""
                Started a throw-away PostgreSQL (\(cluster.binaries.deletingLastPathComponent().lastPathComponent)) \
                in \(cluster.folder.path), port \(cluster.port); it is stopped and deleted at the end.
                """)
        } else {
            report.say("""
                Using the database of --database-url / DATABASE_URL. The demo writes portal \(settings.portalName) \
                with its intents, log entries and events there;
                they stay (the log is append-only). Its workers deliver only that portal's intents.
                """)
        }
        let applied = try migrate(conninfo)
        report.say(applied.isEmpty ? "The schema is up to date." : "Applied \(applied.count) migrations (b24outbox migrate).")
        try Task.checkCancellation()

        var logger = Logger(label: "b24outbox.demo")
        logger.logLevel = .error
        let services = try await DemoServices.start(settings, conninfo: conninfo, logger: logger)
        do {
            try await stages(services)
        } catch {
            await services.stop()
            throw error
        }
        await services.stop()
        cluster?.stop()
        let total = String(format: "%.1f", (ContinuousClock.now - started).inSeconds)
        DemoReport.write("\nDone in \(total) s. Stopped the workers, serve and the simulator"
            + (cluster.map { "; stopped PostgreSQL and deleted \($0.folder.path)." } ?? "."))
    }

    private func migrate(_ conninfo: String) throws -> [String] {
        let db: Connection
        do {
            db = try Connection(conninfo)
        } catch let error as PostgresError {
            throw DemoError("cannot connect to PostgreSQL: \(error.message). Check --database-url or DATABASE_URL.")
        }
        defer { db.close() }
        return try Migrator().migrate(on: db)
    }

    private func stages(_ services: DemoServices) async throws {
        let simulator = services.simulator
        let c = simulator.configuration
        report.stage(2, "A simulated Bitrix24 portal")
        report.say("""
            Simulator at \(simulator.baseURL.absoluteString): users \(c.users), Bitrix24's rate limit (bucket \
            \(Int(c.rateLimit?.capacity ?? 0)), drained \(Int(c.rateLimit?.drainPerSecond ?? 0)) requests/s),
            \(Int((settings.faultRate * 100).rounded()))% of requests fail: 500 before or after the effect, dropped \
            connections, HTML 502 pages, answers slower than the deadline.
            Registered as portal \(services.portal.name) with an incoming webhook (b24outbox portal add); \
            its code is a secret and never shown.
            """)

        report.stage(3, "serve and the worker pool")
        report.say("""
            serve: Bitrix24's event handler at \(services.eventsURL.absoluteString), with /healthz, /readyz, /metrics.
            \(settings.workers) workers, batches of up to 50 intents (one batch is one request against the rate \
            limit), HTTP deadline \(Int(settings.requestTimeout.inSeconds)) s.
            Retries: backoff from \(settings.retry.base.inSeconds) s doubling up to \(settings.retry.cap.inSeconds) s, \
            \(settings.retry.maxAttempts) attempts; shortened for the demo (worker's default: 1 s up to 300 s).
            A chat whose answer was lost is looked up again \(Int(settings.portalExecutionLimit.inSeconds)) s after the deadline, \
            when the simulated portal has surely finished it (a real portal may run a call 60 s longer).
            """)

        report.stage(4, "Enqueue")
        let intents = mix.intents()
        let enqueueStart = ContinuousClock.now
        _ = try await services.database.run { db in try Producer.enqueue(intents, on: db) }
        let system = intents.filter { $0.kind == .notifySystem }.count
        let attached = intents.filter { $0.payload["ATTACH"] != nil }.count
        report.say("""
            \(intents.count.grouped) intents in one transaction (Producer.enqueue) in \
            \(String(format: "%.2f", (ContinuousClock.now - enqueueStart).inSeconds)) s: \
            \(mix.notifications.grouped) notifications (\(system.grouped) system, \(attached.grouped) with ATTACH blocks,
            \(mix.unknownUsers) of them to users \(mix.unknownUserIDs.map(String.init).joined(separator: ", ")), who do not \
            exist on the portal) and \(mix.chats) chats.
            """)

        report.stage(5, "Delivery")
        try await awaitDelivery(services)
        let afterDelivery = await simulator.snapshot()
        let faults = afterDelivery.faults.sorted { $0.key.rawValue < $1.key.rawValue }
            .map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
        report.say("""
            Bitrix24 saw \(afterDelivery.requests) requests (\(afterDelivery.batches) batches) for \
            \(intents.count.grouped) intents; one call per intent at 2 requests/s would take \
            \(String(format: "%.1f", Double(intents.count) / 120)) minutes.
            Faults injected: \(faults.isEmpty ? "none" : faults). Rate limit: the portal's bucket is at \
            \(Int(afterDelivery.bucketLevel.rounded())) of \(Int(c.rateLimit?.capacity ?? 0)); it refused \
            \(afterDelivery.rejected["QUERY_LIMIT_EXCEEDED"] ?? 0) requests (the workers' shared limiter keeps below it).
            """)

        report.stage(6, "Dialog-finish events")
        try await fireEvents(services, chats: afterDelivery.chats)

        report.stage(7, "Stats (b24outbox stats --portal \(services.portal.name))")
        let stats = try await services.database.run { [name = services.portal.name] db in try Stats.read(portal: name, on: db) }
        stats.lines.forEach { report.say($0) }

        try await showRetriedIntent(services, stage: 8)
        let dead = try await showDeadIntents(services, stage: 9)
        try await replay(dead, services, stage: 10)
        try await check(services, stage: 11)
    }

    /// Shows progress until nothing of the portal is pending or in flight.
    private func awaitDelivery(_ services: DemoServices) async throws {
        let start = ContinuousClock.now
        var lastLine = start - .seconds(60)
        let name = services.portal.name
        while true {
            let stats = try await services.database.run { db in try Stats.read(portal: name, on: db) }
            let open = stats.intents.filter { $0.status == "pending" || $0.status == "claimed" }.map(\.count).reduce(0, +)
            let elapsed = ContinuousClock.now - start
            if open == 0 {
                report.progress(stats, elapsed: elapsed, final: true)
                return
            }
            if report.interactive || ContinuousClock.now - lastLine >= .seconds(1) {
                report.progress(stats, elapsed: elapsed)
                lastLine = .now
            }
            guard elapsed < deliveryTimeout else {
                if report.interactive { DemoReport.write("") }
                throw DemoError("\(open) intents were still pending after \(Int(deliveryTimeout.inSeconds)) s")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}
