import Bitrix24
import Foundation
import Logging
import Postgres
import Synchronization

/// The delivery workers: Dispatch threads, each with its own libpq connection, claiming intents
/// portal by portal and sending them in `batch` calls. One more thread LISTENs for enqueues
/// and wakes idle workers (polling every `idlePoll` is only the fallback); one runs `Maintenance`.
public final class WorkerPool: Sendable {
    public struct Configuration: Sendable {
        /// Worker threads (and database connections). Default 4.
        public var concurrency = 4
        /// Intents per `batch` call, at most 50 (Bitrix24's limit). 1 sends each intent in its
        /// own HTTP call, without `batch`. Default 50.
        public var batchSize = 50
        /// Intents per claim: this many `batch` calls' worth, sent one call after another and
        /// recorded in one statement, so the claim and the record cost less per intent. A lease
        /// too short for that (under twice `callLimit`) claims one call's worth. Default 4.
        public var batchesPerClaim = 4
        /// How long a claim is held before another worker may take it over. Default 120 s: a
        /// claim's first call may start at once and its later ones for the next 59 s, and each
        /// still ends inside the lease.
        public var lease: Duration = .seconds(120)
        /// The HTTP client's deadline for one request (the client's `requestTimeout`). Default 30 s.
        public var requestTimeout: Duration = .seconds(30)
        /// How long Bitrix24 may go on running a request after its client gave up: one request
        /// runs for 60 s at most. A chat whose creation may still be running is not looked up
        /// (and created) again before that. Default 60 s.
        public var portalExecutionLimit: Duration = .seconds(60)
        /// When a chat intent whose lease expired is due again, counted from the lease's end:
        /// its last call may have started just before and run at the portal for as long after.
        public var chatSettle: Duration { requestTimeout + portalExecutionLimit }
        /// A claim stops adding intents once their payloads' size as text reaches this (the first
        /// is always taken), so a claim of large chats (an AVATAR may be 1.5 MB) stays within a
        /// worker's memory. Default 16 MiB.
        public var claimBytes = 16 << 20
        /// The longest one call may take: a call is sent twice when the portal redirects it or
        /// its token is refreshed. No call of a claim starts unless it can end inside the lease,
        /// and the client starts no exchange (a token refresh included) that could end after it.
        var callLimit: Duration { requestTimeout * 2 }
        /// An idle worker looks for due intents at least this often. Default 1 s.
        public var idlePoll: Duration = .seconds(1)
        public var retry = RetryPolicy()
        /// Exit once nothing is pending or claimed (for batch jobs and tests).
        public var untilIdle = false
        /// Deliver only the intents of these portal ids; nil (the default): every portal's.
        public var portals: [Int64]? = nil
        /// Name written to the log as the lease owner, followed by a random part drawn for
        /// each pool (two containers on one host may both be PID 1) and the worker number.
        public var name = "\(ProcessInfo.processInfo.hostName)-\(getpid())"
        /// Where delivery counts, latencies and rate-limit waits go.
        public var metrics = OutboxMetrics()

        public init() {}

        /// Whether the lease leaves room for a claim's later calls, each sent twice at worst.
        var leaseFitsSeveralCalls: Bool { lease >= callLimit * 2 }
        var claimSize: Int { batchSize * (leaseFitsSeveralCalls ? batchesPerClaim : 1) }
        /// How long before the lease ends a call may start: a claim's first call (and, under a
        /// short lease, a chat's second) counts one send; later calls count a send twice.
        func callReserve(callsSent: Int) -> Duration {
            callsSent > 0 && leaseFitsSeveralCalls ? callLimit : requestTimeout
        }
    }

    let conninfo: String
    let configuration: Configuration
    let clients: PortalClients
    let logger: Logger
    let stopFlag = StopFlag()
    let wake = WakeSignal()
    /// Claims this pool's workers are delivering now (taken and not yet recorded).
    let claimsInHand = Atomic<Int>(0)
    /// Drawn once per pool, so no two pools' lease owners are the same name.
    let instance = String(UInt64.random(in: 0...UInt64.max), radix: 36)

    public init(conninfo: String, configuration: Configuration, clients: PortalClients, logger: Logger) {
        var configuration = configuration
        configuration.batchSize = min(max(1, configuration.batchSize), Bitrix24Client.maxBatchCommands)
        configuration.concurrency = max(1, configuration.concurrency)
        configuration.batchesPerClaim = max(1, configuration.batchesPerClaim)
        self.conninfo = conninfo
        self.configuration = configuration
        self.clients = clients
        self.logger = logger
    }

    /// Runs the pool until `stop()` (or, with `untilIdle`, until nothing is left); blocks.
    public func run() {
        let workers = DispatchGroup()
        let listener = DispatchGroup()
        // The pool's maintenance reaps by the pool's own chatSettle and lease.
        var maintenanceConfiguration = Maintenance.Configuration()
        maintenanceConfiguration.chatSettle = configuration.chatSettle
        maintenanceConfiguration.lease = configuration.lease
        let maintenance = Maintenance(conninfo: conninfo, configuration: maintenanceConfiguration, logger: logger)
        DispatchQueue(label: "b24outbox.listener").async(group: listener) { self.listen() }
        DispatchQueue(label: "b24outbox.maintenance").async(group: listener) { maintenance.run() }
        for number in 1...configuration.concurrency {
            let queue = DispatchQueue(label: "b24outbox.worker.\(number)")
            queue.async(group: workers) {
                Worker(pool: self, owner: "\(self.configuration.name)-\(self.instance)/\(number)").run()
            }
        }
        workers.wait()
        // Idle or stopped: the listener and maintenance go too, so nothing outlives `run()`.
        stop()
        maintenance.stop()
        listener.wait()
    }

    /// `run()` on threads of its own, for async callers: returns once the pool has stopped.
    public func runUntilStopped() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                self.run()
                done.resume()
            }
            thread.name = "b24outbox.pool"
            thread.start()
        }
    }

    /// Stops claiming; calls in flight finish (each within the client's request timeout), claims
    /// not yet sent are released, and `run()` returns.
    public func stop() {
        stopFlag.set()
        wake.signal()
    }

    public var isStopping: Bool { stopFlag.isSet }

    /// One connection LISTENs on `outbox_intents` and wakes the workers on every enqueue.
    private func listen() {
        var backoff = Duration.milliseconds(100)
        while !stopFlag.isSet {
            do {
                let db = try Connection(conninfo)
                try db.listen("outbox_intents")
                backoff = .milliseconds(100)
                while !stopFlag.isSet {
                    // `stop()` makes the flag's descriptor readable, which ends the wait at once.
                    if try db.waitForNotification(timeout: .seconds(1), interrupt: stopFlag.descriptor) != nil {
                        while try db.nextNotification() != nil {}
                        wake.signal()
                    }
                }
            } catch {
                logger.warning("listener lost its connection; workers poll until it is back", metadata: ["error": "\(error)"])
                wake.wait(timeout: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }
}
