import Bitrix24
import Bitrix24Simulator
import Bitrix24Wire
import Foundation
import Logging
import Outbox
import OutboxApp
import Postgres
import Testing
import TestSupport

/// A scratch database with the schema, a simulator portal registered in it, and a way to run
/// the worker pool until it is idle.
struct DeliveryHarness {
    let scratch: ScratchDatabase
    let db: Connection
    let simulator: Simulator
    let portal = "sim"

    /// `knownExpiry`: the OAuth portal is registered with its access token's expiry (as
    /// `portal add --token-expires-in` does), so it is refreshed ahead of it.
    static func start(
        oauth: Bool = false, knownExpiry: Bool = false, rateBucket: Int = 1_000_000, rateDrain: Double = 1_000_000,
        _ configure: (inout Simulator.Configuration) -> Void = { _ in }
    ) async throws -> DeliveryHarness {
        var configuration = Simulator.Configuration()
        configuration.rateLimit = nil
        configure(&configuration)
        // Taken before the simulator issues its first token, so the expiry is never late.
        let issued = Date()
        let simulator = try await Simulator.start(configuration)
        let scratch = try ScratchDatabase()
        let db = try scratch.connect()
        try Migrator().migrate(on: db)
        let credentials: Bitrix24Credentials = oauth
            ? try .oauth(
                portal: simulator.baseURL, accessToken: configuration.oauth.accessToken,
                refreshToken: configuration.oauth.refreshToken, clientID: configuration.oauth.clientID,
                clientSecret: configuration.oauth.clientSecret,
                accessTokenExpiresAt: knownExpiry ? issued.addingTimeInterval(configuration.oauth.accessTokenLifetime.inSeconds) : nil,
                accessTokenIssuedAt: knownExpiry ? issued : nil, allowInsecureHTTP: true)
            : try .webhook(simulator.webhookURL, allowInsecureHTTP: true)
        try PortalStore.add(PortalRegistration(
            name: "sim", credentials: credentials, applicationToken: configuration.applicationToken,
            memberID: configuration.memberID, domain: configuration.domain, rateBucket: rateBucket,
            rateDrain: rateDrain, tokenEndpoint: simulator.tokenURL), on: db)
        return DeliveryHarness(scratch: scratch, db: db, simulator: simulator)
    }

    func stop() async {
        await simulator.stop()
    }

    /// Starts a harness, runs `body`, and stops the simulator however `body` ends.
    static func with(
        oauth: Bool = false, knownExpiry: Bool = false, rateBucket: Int = 1_000_000, rateDrain: Double = 1_000_000,
        _ configure: (inout Simulator.Configuration) -> Void = { _ in },
        _ body: (DeliveryHarness) async throws -> Void
    ) async throws {
        let harness = try await start(
            oauth: oauth, knownExpiry: knownExpiry, rateBucket: rateBucket, rateDrain: rateDrain, configure)
        do {
            try await body(harness)
        } catch {
            await harness.stop()
            throw error
        }
        await harness.stop()
    }

    /// Runs a pool with `untilIdle` on its own threads and waits for it to finish.
    func deliver(
        concurrency: Int = 4, batch: Int = 50, retry: RetryPolicy = .fastForTests,
        _ configure: (inout WorkerPool.Configuration) -> Void = { _ in }
    ) async throws {
        try await Self.deliver(conninfo: scratch.conninfo, concurrency: concurrency, batch: batch, retry: retry, configure)
    }

    /// A pool of its own, with its own Bitrix24 clients (or `clients`, kept from an earlier
    /// run): what a separate worker process has. `configure` may change the pool's settings;
    /// its `requestTimeout` is the clients' too, and its `metrics` theirs.
    static func deliver(
        conninfo: String, clients given: PortalClients? = nil, concurrency: Int = 4, batch: Int = 50,
        retry: RetryPolicy = .fastForTests, _ configure: (inout WorkerPool.Configuration) -> Void = { _ in }
    ) async throws {
        var configuration = WorkerPool.Configuration()
        configuration.concurrency = concurrency
        configuration.batchSize = batch
        configuration.retry = retry
        configuration.untilIdle = true
        configuration.idlePoll = .milliseconds(100)
        configuration.name = "test"
        configuration.requestTimeout = .seconds(10)
        // The simulator has run a call when it answers or drops it, so nothing runs on there
        // after its client gave up, unless a test holds calls (and sets its own limit).
        configuration.portalExecutionLimit = .milliseconds(100)
        configure(&configuration)
        var logger = Logger(label: "test")
        logger.logLevel = .error  // faults are expected here; their log lines are noise
        let (pool, clients) = OutboxServices.workerPool(configuration, conninfo: conninfo, clients: given, logger: logger)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                pool.run()
                done.resume()
            }
        }
        if given == nil { try await clients.shutdown() }
    }

    /// The Bitrix24 clients a pool with `configuration` calls through.
    static func clients(conninfo: String, configuration: WorkerPool.Configuration) -> PortalClients {
        var logger = Logger(label: "test")
        logger.logLevel = .error
        return OutboxServices.portalClients(for: configuration, conninfo: conninfo, logger: logger)
    }

    /// What the portal shows after a run through faults: the faults really happened, one
    /// visible notification per (user, TAG) and `notifications` in all, one chat per entity pair
    /// and `chats` in all, each the one its intent recorded.
    func expectOneEffectEach(notifications: Int, chats: Int) async throws {
        let state = await simulator.snapshot()
        for kind in [Simulator.Fault.failBefore, .failAfter, .dropAfter] {
            #expect(state.faults[kind, default: 0] >= 5, "the run really met \(kind) faults")
        }
        let visible = Dictionary(grouping: state.notifications, by: { "\($0.userID)|\($0.tag ?? "")" })
        #expect(visible.count == notifications)
        #expect(visible.values.allSatisfy { $0.count == 1 })
        let tags = Set(try db.query("SELECT payload->>'TAG' FROM outbox.intents WHERE kind <> 'chat.create'").map { try $0.decode(0, as: String.self) })
        #expect(Set(state.notifications.compactMap(\.tag)) == tags)
        #expect(state.chats.count == chats)
        #expect(Set(state.chats.map { "\($0.entityType)|\($0.entityID)" }).count == chats)
        for row in try db.query("SELECT payload->>'ENTITY_TYPE', payload->>'ENTITY_ID', result_id FROM outbox.intents WHERE kind = 'chat.create'") {
            let (type, id): (String, String) = (try row.decode(0), try row.decode(1))
            #expect(state.chats(entityType: type, entityID: id).map(\.id) == [try row.decode(2, as: Int64.self)])
        }
        let report = try Verifier().verify(on: db)
        #expect(report.isConsistent, "\(report.mismatches.prefix(5))")
    }

    func count(_ sql: String, _ parameters: [any PostgresEncodable] = []) throws -> Int {
        try db.query(sql, parameters).first!.decode(0)
    }

    func statusCounts() throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try db.query("SELECT status, count(*) FROM outbox.intents GROUP BY 1") {
            counts[try row.decode(0)] = try row.decode(1)
        }
        return counts
    }

    /// Every table the outbox writes, except the portals table that holds the secrets, as text.
    func everythingButSecrets() throws -> String {
        try TestSecrets.databaseText(on: db)
    }
}

extension RetryPolicy {
    /// Short waits, many attempts: faults are retried quickly and nothing dies of bad luck.
    static let fastForTests = RetryPolicy(base: .milliseconds(20), cap: .milliseconds(200), maxAttempts: 40)
}
