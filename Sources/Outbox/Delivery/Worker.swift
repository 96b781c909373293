import Bitrix24
import Bitrix24Wire
import Foundation
import Logging
import Postgres

/// One worker thread of a `WorkerPool`: its own connection, its own claims.
struct Worker {
    let pool: WorkerPool
    let owner: String
    var store: IntentStore { IntentStore(owner: owner) }
    var configuration: WorkerPool.Configuration { pool.configuration }

    func run() {
        var backoff = Duration.milliseconds(100)
        while !pool.isStopping {
            do {
                let db = try Connection(pool.conninfo)
                backoff = .milliseconds(100)
                if try loop(db) { return }
            } catch {
                // Database down or restarted: reconnect with backoff; claims expire and maintenance reaps them.
                pool.logger.warning("worker lost its database connection", metadata: ["worker": "\(owner)", "error": "\(error)"])
                pool.wake.wait(timeout: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    /// Claims and delivers until stopped; returns true when the pool is done (idle or stopped).
    private func loop(_ db: Connection) throws -> Bool {
        while !pool.isStopping {
            do {
                if try turn(db) { return true }
            } catch let error as PostgresError where Self.isRefusal(error, on: db) {
                // A statement refused on a sound connection is no reason to reconnect; waiting a
                // poll keeps a statement that is refused every time from spinning.
                pool.logger.error("the database refused a worker's statement", metadata: ["worker": "\(owner)", "error": "\(error)"])
                pool.wake.wait(timeout: configuration.idlePoll)
            }
        }
        return true
    }

    /// Whether the database refused a statement (a value, a constraint) while the connection
    /// stays usable, as opposed to the connection being lost.
    static func isRefusal(_ error: PostgresError, on db: Connection) -> Bool {
        !error.isConnectionError && db.isOpen
    }

    /// One claim, delivered and recorded (or a wait when there is none); true when the pool is done.
    private func turn(_ db: Connection) throws -> Bool {
        // Taken before looking, so a wake-up that lands between an empty claim and the wait
        // below (an enqueue's NOTIFY; with --until-idle, a peer's finish) is not missed.
        let seen = pool.wake.current
        let claim = try store.claimTurn(
            limit: configuration.claimSize, perCall: configuration.batchSize, lease: configuration.lease,
            bytes: configuration.claimBytes, portals: configuration.portals, on: db)
        let claimed = claim.intents
        if claimed.isEmpty {
            // A turn with nothing it could take (its due intents wait for one of their recipient
            // and TAG in flight) gave its requests back and moved on: other portals go first.
            if claim.portalID != nil { return false }
            // While a peer of this pool still delivers a claim, the pool is not idle, and
            // asking the database would only compete with that peer's delivery.
            if configuration.untilIdle, pool.claimsInHand.load(ordering: .acquiring) == 0,
               try IntentStore.nothingLeft(portals: configuration.portals, on: db) {
                return true
            }
            // Until the first turn is due (a bucket's room, a retry's time), or an enqueue's wake-up.
            let wait = min(claim.wait ?? configuration.idlePoll, configuration.idlePoll)
            if wait > .zero { pool.wake.wait(after: seen, timeout: wait) }
            return false
        }
        pool.claimsInHand.add(1, ordering: .relaxed)
        defer {
            pool.claimsInHand.subtract(1, ordering: .releasing)
            // A batch job ends when the last claim is recorded: idle peers look again at once.
            if configuration.untilIdle { pool.wake.signal() }
        }
        try deliver(claimed, granted: claim.calls, deadline: .now + configuration.lease - .seconds(1), on: db)
        return false
    }

    /// Sends one claim (one portal, `granted` requests of its bucket taken) and records every
    /// intent's outcome.
    private func deliver(_ claimed: [ClaimedIntent], granted: Int, deadline: ContinuousClock.Instant, on db: Connection) throws {
        let portalID = claimed[0].portalID
        let (client, portal): (Bitrix24Client, String)
        do {
            (client, portal) = try pool.clients.client(for: portalID, db: db)
        } catch let error as PortalStore.PortalError {
            try RateLimiter.giveBack(granted, portalID: portalID, on: db)
            let details: JSONValue = ["error": "PORTAL_UNUSABLE", "error_description": .string(error.description), "class": "permanent"]
            try finish(claimed.map { ($0, .dead(details: details)) }, portal: "\(portalID)", on: db)
            return
        }
        var pending = try releasePausedMethods(claimed, portalID: portalID, portal: portal, on: db)
        var commands = DeliveryPlan.firstCommands(for: pending)
        var outcomes: [(intent: ClaimedIntent, outcome: DeliveryOutcome)] = []
        var callsSent = 0
        // Rate-limit slots granted ahead for the calls of this round, not used yet: the claim's,
        // less those of intents a method pause sent back (back to the bucket at once).
        let firstRound = (pending.count + configuration.batchSize - 1) / configuration.batchSize
        var slots = min(granted, firstRound)
        try RateLimiter.giveBack(granted - slots, portalID: portalID, on: db)
        // Slots left when the claim ends early (shutdown, the lease's end) go back too.
        defer { if slots > 0 { try? RateLimiter.giveBack(slots, portalID: portalID, on: db) } }
        // A chat lookup that finds nothing leads to a second round that creates it.
        rounds: while !pending.isEmpty {
            var next: [ClaimedIntent] = []
            // One `batch` call per `batchSize` commands, each after its own rate-limit slot.
            for start in stride(from: 0, to: pending.count, by: configuration.batchSize) {
                let end = min(start + configuration.batchSize, pending.count)
                // A call starts only while it can still end inside the lease.
                let reserve = configuration.callReserve(callsSent: callsSent)
                let callsLeft = (pending.count - start + configuration.batchSize - 1) / configuration.batchSize
                guard try takeRateSlot(
                    portalID: portalID, portal: portal, reserve: reserve, before: deadline,
                    wanted: callsLeft, callsSent: callsSent, slots: &slots, on: db)
                else {
                    let reason = pool.isStopping ? "shutdown" : "rate limit wait exceeds the lease"
                    outcomes += (pending[start...] + next).map { ($0, .released(after: .seconds(1), reason: reason)) }
                    break rounds
                }
                let chunk = Array(commands[start..<end])
                let (answers, exchange) = send(chunk, with: client, before: deadline)
                callsSent += 1
                for (intent, command) in zip(pending[start..<end], chunk) {
                    let (step, signal) = DeliveryPlan.step(
                        for: intent, command: command, outcome: answers[command.key] ?? .notExecuted,
                        exchange: exchange, retry: configuration.retry,
                        portalExecutionLimit: configuration.portalExecutionLimit)
                    switch step {
                    case .finished(let outcome): outcomes.append((intent, outcome))
                    case .createChat: next.append(intent)
                    }
                    if let signal {
                        try record(signal, portalID: portalID, on: db)
                        // The portal refused for its limit: slots granted before that are void.
                        if signal == .rateLimited { slots = 0 }
                    }
                }
            }
            pending = next
            commands = next.map(DeliveryPlan.sendCommand(for:))
        }
        try finish(outcomes, portal: portal, on: db)
    }

    /// Records outcomes, then counts those that were recorded (a lost lease's are the new holder's).
    ///
    /// When the database refuses the claim's record (a value it cannot store in one outcome),
    /// each outcome is recorded on its own, so one cannot hold back the rest; one refused again
    /// is recorded with its details cut to what the database took, and one refused even then
    /// stays claimed until its lease expires.
    private func finish(_ outcomes: [(intent: ClaimedIntent, outcome: DeliveryOutcome)], portal: String, on db: Connection) throws {
        var lost: [Int64] = [], unrecorded: [Int64] = []
        do {
            lost = try store.finish(outcomes, on: db).lost
        } catch let error as PostgresError where Self.isRefusal(error, on: db) && outcomes.count > 1 {
            pool.logger.error("the database refused a claim's outcomes; recording them one by one",
                              metadata: ["worker": "\(owner)", "error": "\(error)"])
            for item in outcomes {
                do {
                    lost += try recordAlone(item, on: db)
                } catch let error as PostgresError where Self.isRefusal(error, on: db) {
                    pool.logger.error("the database refused an intent's outcome; its lease will expire",
                                      metadata: ["worker": "\(owner)", "intent": "\(item.intent.id)", "error": "\(error)"])
                    unrecorded.append(item.intent.id)
                }
            }
        } catch let error as PostgresError where Self.isRefusal(error, on: db) {
            // One outcome, refused as it was: straight to the details the database can take.
            let (intent, outcome) = outcomes[0]
            lost = try store.finish([(intent, outcome.withDetailsRefused(by: error))], on: db).lost
        }
        if !lost.isEmpty {
            pool.logger.warning("lease lost before the outcome was recorded; the new holder decides",
                                metadata: ["worker": "\(owner)", "intents": "\(lost)"])
        }
        let skipped = Set(lost + unrecorded)
        for (intent, outcome) in outcomes where !skipped.contains(intent.id) {
            configuration.metrics.delivery(outcome, portal: portal, enqueuedAt: intent.enqueuedAt)
        }
    }

    /// Records one outcome; refused, once more with only the details the database can take.
    private func recordAlone(_ item: (intent: ClaimedIntent, outcome: DeliveryOutcome), on db: Connection) throws -> [Int64] {
        do {
            return try store.finish([item], on: db).lost
        } catch let error as PostgresError where Self.isRefusal(error, on: db) {
            return try store.finish([(item.intent, item.outcome.withDetailsRefused(by: error))], on: db).lost
        }
    }

    /// One HTTP exchange: a `batch`, or a plain call when the pool sends one intent per call.
    /// The client starts no exchange (a redirect's re-POST, a token refresh and the call sent
    /// again after it included) that could end after `deadline`, the lease's end.
    private func send(
        _ commands: [BatchCommand], with client: Bitrix24Client, before deadline: ContinuousClock.Instant
    ) -> ([String: BatchOutcome], DeliveryPlan.Exchange) {
        let started = ContinuousClock.now
        let result = Result {
            try blockingAwait { () async throws -> ([String: BatchOutcome], Int?) in
                if commands.count == 1 && configuration.batchSize == 1 {
                    do {
                        let response = try await client.execute(commands[0], deadline: deadline)
                        return ([commands[0].key: .success(response.result, response.time)], response.httpStatus)
                    } catch let error as Bitrix24Error {
                        return ([commands[0].key: .failure(error)], error.httpStatus)
                    }
                }
                let response = try await client.batch(commands, deadline: deadline)
                return (response.outcomes, response.httpStatus)
            }
        }
        let elapsed = ContinuousClock.now - started
        var exchange = DeliveryPlan.Exchange(httpStatus: nil, elapsed: elapsed, batchSize: commands.count)
        switch result {
        case .success(let (outcomes, status)):
            exchange.httpStatus = status
            return (outcomes, exchange)
        case .failure(let error):
            // The whole call failed: every command shares its fate.
            let bitrixError = error as? Bitrix24Error
                ?? Bitrix24Error(code: "TRANSPORT_ERROR", errorDescription: "\(type(of: error))", failureClass: .ambiguous)
            exchange.httpStatus = bitrixError.httpStatus
            return (Dictionary(uniqueKeysWithValues: commands.map { ($0.key, BatchOutcome.failure(bitrixError)) }), exchange)
        }
    }

    /// Waits for the portal's shared bucket to allow one request: a slot left in `slots` (unless
    /// the portal has been paused since), or up to `wanted` (the calls this round still has)
    /// taken at once, one for this call and the rest kept in `slots`. False when the call after
    /// the wait (`reserve` long at most) could outlast the lease, or the pool is stopping: the
    /// rest of the claim is then released, not sent.
    private func takeRateSlot(
        portalID: Int64, portal: String, reserve: Duration, before deadline: ContinuousClock.Instant,
        wanted: Int, callsSent: Int, slots: inout Int, on db: Connection
    ) throws -> Bool {
        guard ContinuousClock.now + reserve < deadline, !pool.isStopping else { return false }
        if slots > 0 {
            // A QUERY_LIMIT_EXCEEDED seen by any worker since the grant pauses these slots too;
            // the claim's first call leaves right after its grant, which no pause can precede.
            if try callsSent == 0 || !RateLimiter.isPaused(portalID: portalID, on: db) {
                slots -= 1
                return true
            }
            slots = 0
        }
        while !pool.isStopping {
            let (granted, pause) = try RateLimiter.take(wanted, portalID: portalID, on: db)
            if granted > 0 {
                slots = granted - 1
                return true
            }
            guard ContinuousClock.now + pause + reserve < deadline else {
                return false
            }
            configuration.metrics.rateLimitWait(pause, portal: portal)
            Thread.sleep(forTimeInterval: pause.inSeconds)
        }
        return false
    }

    /// Intents whose method is paused by OPERATION_TIME_LIMIT go back until the pause ends.
    private func releasePausedMethods(
        _ claimed: [ClaimedIntent], portalID: Int64, portal: String, on db: Connection
    ) throws -> [ClaimedIntent] {
        let left = try RateLimiter.methodPauses(portalID: portalID, on: db)
        guard !left.isEmpty else { return claimed }
        // A chat is looked up (im.chat.get) before it is created: either method's pause holds it.
        func pause(of intent: ClaimedIntent) -> Duration? {
            intent.kind == .chatCreate ? [left["im.chat.get"], left[intent.kind.method]].compactMap { $0 }.max()
                : left[intent.kind.method]
        }
        let paused = claimed.compactMap { intent in pause(of: intent).map { (intent, $0) } }
        try finish(paused.map { ($0.0, .released(after: $0.1, reason: "OPERATION_TIME_LIMIT")) }, portal: portal, on: db)
        return claimed.filter { pause(of: $0) == nil }
    }

    private func record(_ signal: DeliveryPlan.PortalSignal, portalID: Int64, on db: Connection) throws {
        switch signal {
        case .rateLimited:
            try RateLimiter.noteRateLimited(portalID: portalID, on: db)
        case .methodPaused(let method, let pause):
            try RateLimiter.pauseMethod(method, for: pause, portalID: portalID, on: db)
        }
    }
}

