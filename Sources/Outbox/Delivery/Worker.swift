import Bitrix24
import Bitrix24Wire
import Foundation
import Logging
import Postgres
import Synchronization

/// One worker thread of a `WorkerPool`: its own connection, its own claims, and many calls in
/// flight at once.
///
/// The thread does every database step itself (the claim, the limiter, the record). The HTTP
/// calls run as tasks that prefer the thread's executor: they hold no thread while they wait on
/// the network, and their answers come back to this thread between its database steps. A
/// claim's calls leave as soon as it is taken (the claim took their requests from the portal's
/// bucket), so the portal sees them when our mirror of its bucket counted them. A chat's second
/// round (the creation after a lookup that found none) takes its requests when it is ready to
/// leave and, while the bucket has none, waits without holding the thread.
///
/// Every call leaves right after a database statement of this worker succeeded (the claim, or
/// the request taken for it), and only while it can end inside the claim's lease: a worker cut
/// from the database sends nothing more once the calls in flight end.
final class Worker {
    let pool: WorkerPool
    let owner: String
    let executor: CallingThreadExecutor
    var store: IntentStore { IntentStore(owner: owner) }
    var configuration: WorkerPool.Configuration { pool.configuration }

    /// Answers posted by the call tasks, taken by the thread.
    private let mailbox = Mailbox()
    /// Claims taken and not yet recorded, by a number of this worker's.
    private var claims: [Int: ClaimInFlight] = [:]
    private var claimsTaken = 0
    /// Calls sent and not answered, over all of this worker's claims.
    private var callsInFlight = 0

    init(pool: WorkerPool, owner: String, executor: CallingThreadExecutor) {
        self.pool = pool
        self.owner = owner
        self.executor = executor
    }

    func run() {
        // Calls still in flight when the thread leaves (stopped with its database gone) end on
        // the global executor; their claims expire and maintenance reaps them.
        defer { executor.finish() }
        var backoff = Duration.milliseconds(100)
        while !pool.isStopping || !claims.isEmpty {
            do {
                let db = try Connection(pool.conninfo)
                backoff = .milliseconds(100)
                if try loop(db) { return }
            } catch {
                // Database down or restarted: reconnect with backoff; answers that come meanwhile
                // are recorded once it is back, if their leases still hold.
                pool.logger.warning("worker lost its database connection", metadata: ["worker": "\(owner)", "error": "\(error)"])
                if pool.isStopping { return }
                pause(backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    /// Runs the calls' jobs for `duration`, or less when woken.
    private func pause(_ duration: Duration) {
        let seen = executor.pokes
        executor.runReady()
        executor.wait(after: seen, timeout: duration)
        executor.runReady()
    }

    /// Claims, sends and records until stopped; returns true when the pool is done (idle or stopped).
    private func loop(_ db: Connection) throws -> Bool {
        while true {
            do {
                if try step(db) { return true }
            } catch let error as PostgresError where Self.isRefusal(error, on: db) {
                // A statement refused on a sound connection is no reason to reconnect; waiting a
                // poll keeps a statement that is refused every time from spinning.
                pool.logger.error("the database refused a worker's statement", metadata: ["worker": "\(owner)", "error": "\(error)"])
                pause(configuration.idlePoll)
            }
        }
    }

    /// Whether the database refused a statement (a value, a constraint) while the connection
    /// stays usable, as opposed to the connection being lost.
    static func isRefusal(_ error: PostgresError, on db: Connection) -> Bool {
        !error.isConnectionError && db.isOpen
    }

    /// One pass: the answers that came are recorded, claims waiting for requests go on, and one
    /// claim is taken while there is room for its calls (or the thread waits); true when the
    /// pool is done.
    private func step(_ db: Connection) throws -> Bool {
        // Taken before looking, so a wake-up that lands between an empty claim and the wait
        // below (an enqueue's NOTIFY, an answer; with --until-idle, a peer's finish) is not missed.
        let seen = executor.pokes
        executor.runReady()
        for answer in mailbox.take() { try handle(answer, on: db) }
        let now = ContinuousClock.now
        for (number, claim) in claims where claim.retryAt.map({ $0 <= now }) ?? false {
            try advance(number, on: db)
        }
        let nextRetry = claims.values.compactMap(\.retryAt).min().map { max(.zero, $0 - .now) }
        let idle = min(nextRetry ?? configuration.idlePoll, configuration.idlePoll)
        if pool.isStopping {
            if claims.isEmpty { return true }
            executor.wait(after: seen, timeout: idle)
            return false
        }
        let room = configuration.maxInFlightPerWorker - callsInFlight
        guard room > 0 else {
            executor.wait(after: seen, timeout: idle)
            return false
        }
        let claim = try store.claimTurn(
            limit: min(configuration.claimSize, room * configuration.batchSize), perCall: configuration.batchSize,
            lease: configuration.lease, bytes: configuration.claimBytes, portals: configuration.portals, on: db)
        if !claim.intents.isEmpty {
            try start(claim, on: db)
            return false
        }
        // A turn with nothing it could take (its due intents wait for one of their recipient
        // and TAG in flight) gave its requests back and moved on: other portals go first.
        if claim.portalID != nil { return false }
        // While a claim of this pool is still in hand, the pool is not idle, and asking the
        // database would only compete with that claim's record.
        if configuration.untilIdle, claims.isEmpty, pool.claimsInHand.load(ordering: .acquiring) == 0,
           try IntentStore.nothingLeft(portals: configuration.portals, on: db) {
            return true
        }
        // Until the first turn is due (a bucket's room, a retry's time), an answer, or an enqueue's wake-up.
        let wait = min(claim.wait ?? configuration.idlePoll, idle)
        if wait > .zero { executor.wait(after: seen, timeout: wait) }
        return false
    }

    /// A claim (one portal, `claim.calls` requests of its bucket taken): its paused methods'
    /// intents go back, the rest leave at once.
    private func start(_ claim: IntentStore.Claim, on db: Connection) throws {
        let claimed = claim.intents
        let portalID = claimed[0].portalID
        let (client, portal): (Bitrix24Client, String)
        do {
            (client, portal) = try pool.clients.client(for: portalID, db: db)
        } catch let error as PortalStore.PortalError {
            try RateLimiter.giveBack(claim.calls, portalID: portalID, on: db)
            let details: JSONValue = ["error": "PORTAL_UNUSABLE", "error_description": .string(error.description), "class": "permanent"]
            try finish(claimed.map { ($0, .dead(details: details)) }, portal: "\(portalID)", on: db)
            return
        }
        let pending = try releasePausedMethods(claimed, portalID: portalID, portal: portal, on: db)
        let number = claimsTaken
        claimsTaken += 1
        claims[number] = ClaimInFlight(
            portalID: portalID, portal: portal, client: client,
            deadline: .now + configuration.lease - .seconds(1), slots: claim.calls,
            unsent: Array(zip(pending, DeliveryPlan.firstCommands(for: pending))))
        pool.claimsInHand.add(1, ordering: .relaxed)
        try advance(number, on: db)
    }

    /// Sends what a claim can send now, one call per `batchSize` unsent intents, each on a
    /// request the claim holds or takes now; records the claim once nothing is unsent or in flight.
    private func advance(_ number: Int, on db: Connection) throws {
        guard let claim = claims[number] else { return }
        claim.retryAt = nil
        while !claim.unsent.isEmpty {
            // A call starts only while it can still end inside the lease.
            let reserve = configuration.callReserve(callsSent: claim.callsSent)
            guard !pool.isStopping, ContinuousClock.now + reserve < claim.deadline else {
                claim.releaseUnsent(reason: pool.isStopping ? "shutdown" : "rate limit wait exceeds the lease")
                break
            }
            if claim.slots == 0 {
                let wanted = (claim.unsent.count + configuration.batchSize - 1) / configuration.batchSize
                let (granted, wait) = try RateLimiter.take(wanted, portalID: claim.portalID, on: db)
                guard granted > 0 else {
                    if ContinuousClock.now + wait + reserve < claim.deadline {
                        configuration.metrics.rateLimitWait(wait, portal: claim.portal)
                        claim.retryAt = .now + wait
                    } else {
                        claim.releaseUnsent(reason: "rate limit wait exceeds the lease")
                    }
                    break
                }
                claim.slots = granted
            }
            claim.slots -= 1
            send(claim.takeCall(size: configuration.batchSize), of: number, claim)
        }
        if claim.unsent.isEmpty, claim.slots > 0 {
            // Requests granted for calls that turned out not to be needed go back at once.
            try RateLimiter.giveBack(claim.slots, portalID: claim.portalID, on: db)
            claim.slots = 0
        }
        if claim.unsent.isEmpty && claim.calls.isEmpty { try complete(number, on: db) }
    }

    /// Starts one call as a task on this thread's executor; its answer comes back by the mailbox.
    private func send(_ call: (number: Int, commands: [BatchCommand]), of claimNumber: Int, _ claim: ClaimInFlight) {
        callsInFlight += 1
        let client = claim.client
        let deadline = claim.deadline
        let mailbox = mailbox
        let commands = call.commands
        let callNumber = call.number
        let plain = commands.count == 1 && configuration.batchSize == 1
        // The task's jobs run on this thread (in `runReady`), so its answer is in the mailbox
        // before the thread next looks there.
        Task(executorPreference: executor) {
            let result = await Worker.exchange(commands, with: client, plain: plain, before: deadline)
            mailbox.post(Answer(claim: claimNumber, call: callNumber, answers: result.0, exchange: result.1))
        }
    }

    /// One call's answers: each intent's step, what the limiter learns, and the claim moved on.
    private func handle(_ answer: Answer, on db: Connection) throws {
        guard let claim = claims[answer.claim], let call = claim.calls.removeValue(forKey: answer.call) else { return }
        callsInFlight -= 1
        var signals: [DeliveryPlan.PortalSignal] = []
        for (intent, command) in call {
            let (step, signal) = DeliveryPlan.step(
                for: intent, command: command, outcome: answer.answers[command.key] ?? .notExecuted,
                exchange: answer.exchange, retry: configuration.retry,
                portalExecutionLimit: configuration.portalExecutionLimit)
            switch step {
            case .finished(let outcome): claim.outcomes.append((intent, outcome))
            case .createChat: claim.unsent.append((intent, DeliveryPlan.sendCommand(for: intent)))
            }
            if let signal, !signals.contains(signal) { signals.append(signal) }
        }
        for signal in signals {
            try record(signal, portalID: claim.portalID, on: db)
            // The portal refused for its limit: requests granted before that are void.
            if signal == .rateLimited { claim.slots = 0 }
        }
        try advance(answer.claim, on: db)
    }

    /// Records a claim whose every intent has its outcome.
    private func complete(_ number: Int, on db: Connection) throws {
        guard let claim = claims.removeValue(forKey: number) else { return }
        defer {
            pool.claimsInHand.subtract(1, ordering: .releasing)
            // A batch job ends when the last claim is recorded: idle peers look again at once.
            if configuration.untilIdle { pool.wakeWorkers() }
        }
        try finish(claim.outcomes, portal: claim.portal, on: db)
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
    private static func exchange(
        _ commands: [BatchCommand], with client: Bitrix24Client, plain: Bool, before deadline: ContinuousClock.Instant
    ) async -> ([String: BatchOutcome], DeliveryPlan.Exchange) {
        let started = ContinuousClock.now
        let result: Result<([String: BatchOutcome], Int?), any Error>
        if plain {
            do {
                let response = try await client.execute(commands[0], deadline: deadline)
                result = .success(([commands[0].key: .success(response.result, response.time)], response.httpStatus))
            } catch {
                // A plain call's error is its command's answer.
                result = .success(([commands[0].key: .failure(error)], error.httpStatus))
            }
        } else {
            do {
                let response = try await client.batch(commands, deadline: deadline)
                result = .success((response.outcomes, response.httpStatus))
            } catch {
                result = .failure(error)
            }
        }
        var exchange = DeliveryPlan.Exchange(httpStatus: nil, elapsed: ContinuousClock.now - started, batchSize: commands.count)
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

/// A claim between its claim and its record; touched only by its worker's thread.
private final class ClaimInFlight {
    let portalID: Int64
    let portal: String
    let client: Bitrix24Client
    /// No call starts that could end after this: the lease's end, less a second.
    let deadline: ContinuousClock.Instant
    /// Requests taken from the portal's bucket and not used yet.
    var slots: Int
    /// Intents with the command each sends next, not sent yet.
    var unsent: [(intent: ClaimedIntent, command: BatchCommand)]
    /// Calls sent and not answered yet, by number, with their intents and commands.
    var calls: [Int: [(intent: ClaimedIntent, command: BatchCommand)]] = [:]
    var callsSent = 0
    var outcomes: [(intent: ClaimedIntent, outcome: DeliveryOutcome)] = []
    /// When a claim that waits for its bucket asks again.
    var retryAt: ContinuousClock.Instant?

    init(
        portalID: Int64, portal: String, client: Bitrix24Client, deadline: ContinuousClock.Instant, slots: Int,
        unsent: [(intent: ClaimedIntent, command: BatchCommand)]
    ) {
        self.portalID = portalID
        self.portal = portal
        self.client = client
        self.deadline = deadline
        self.slots = slots
        self.unsent = unsent
    }

    /// The next call's commands, up to `size`, moved from unsent to in flight.
    func takeCall(size: Int) -> (number: Int, commands: [BatchCommand]) {
        let count = min(size, unsent.count)
        let call = Array(unsent.prefix(count))
        unsent.removeFirst(count)
        let number = callsSent
        callsSent += 1
        calls[number] = call
        return (number, call.map(\.command))
    }

    /// What is not sent goes back, spending no attempt.
    func releaseUnsent(reason: String) {
        outcomes += unsent.map { ($0.intent, .released(after: .seconds(1), reason: reason)) }
        unsent = []
    }
}

/// One call's answers, posted by its task for the worker's thread.
private struct Answer: Sendable {
    var claim: Int
    var call: Int
    var answers: [String: BatchOutcome]
    var exchange: DeliveryPlan.Exchange
}

/// Where the call tasks leave their answers.
private final class Mailbox: Sendable {
    private let answers = Mutex<[Answer]>([])

    func post(_ answer: Answer) { answers.withLock { $0.append(answer) } }

    func take() -> [Answer] { answers.withLock { answers in defer { answers = [] }; return answers } }
}
