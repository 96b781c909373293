import Foundation
import Logging
import Postgres
import Synchronization

/// The outbox's maintenance, as one service: reaping expired leases (so a dead worker's intents
/// go out again) and creating the log's months ahead (so no append waits for one).
///
/// Every worker pool and every `serve` runs one, on a thread and connection of its own, but each
/// job is done only by the process holding its turn, so it runs once across all hosts. A turn
/// is a row with an expiry (`outbox.maintenance_turn`), renewed every `renewEvery`: a process
/// that stops in order gives its turns up at once, one that dies or is cut from the database
/// loses them within `turnLease`, and another takes them over. Reaping is taken by worker pools
/// only: their `chatSettle` decides when a reaped chat may be looked up again, and `serve` does
/// not know it.
public final class Maintenance: Sendable {
    /// The named jobs, each with a turn of its own.
    public enum Job: String, Sendable, CaseIterable {
        /// Expired leases back to pending (`IntentStore.reapExpiredLeases`), and the portals'
        /// turns kept whole: wake-ups folded while no worker claims, and a turn for any active
        /// portal with pending intents that has none (`outbox.wake_stranded_portals`).
        case reap
        /// The log's months ahead (`LogPartitions.ensure`).
        case partitions
    }

    public struct Configuration: Sendable {
        /// The jobs this process takes turns at. Default both; `serve` only `partitions`.
        public var jobs: Set<Job> = Set(Job.allCases)
        /// How long a turn lasts unless renewed. Default 15 s.
        public var turnLease: Duration = .seconds(15)
        /// How often the holder renews its turn, and others try to take it. Default 2 s.
        public var renewEvery: Duration = .seconds(2)
        /// How often expired leases are reaped. Default 5 s.
        public var reapEvery: Duration = .seconds(5)
        /// How often the log's months ahead are checked. Default an hour.
        public var partitionsEvery: Duration = LogPartitions.checkInterval
        /// When a chat whose lease expired is due again (`WorkerPool.Configuration.chatSettle`).
        public var chatSettle: Duration = WorkerPool.Configuration().chatSettle
        /// The delivery lease, for what a reaped lease says (`WorkerPool.Configuration.lease`).
        public var lease: Duration = WorkerPool.Configuration().lease
        /// Names this process in `outbox.maintenance_turn`.
        public var holder = "\(ProcessInfo.processInfo.hostName.prefix(100))-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"

        public init() {}
    }

    /// What one round did.
    public struct Round: Sendable, Equatable {
        /// The jobs whose turn this process held.
        public var held: Set<Job>
        /// Leases reaped.
        public var reaped: Int
        /// Portals with pending intents found without a turn, and given one.
        public var woken = 0
        /// Log partitions created.
        public var partitions: [String]
    }

    let conninfo: String
    let configuration: Configuration
    let logger: Logger
    private let stopFlag = StopFlag()
    private let wake = WakeSignal()
    /// When each job last ran while this process held its turn; none: due at once.
    private let lastRun = Mutex<[Job: ContinuousClock.Instant]>([:])

    public init(conninfo: String, configuration: Configuration = .init(), logger: Logger) {
        self.conninfo = conninfo
        self.configuration = configuration
        self.logger = logger
    }

    /// Takes or renews each job's turn and, holding it, does the job when it is due. Safe to
    /// call from one thread at a time.
    @discardableResult
    public func round(on db: Connection) throws -> Round {
        var round = Round(held: [], reaped: 0, partitions: [])
        for job in Job.allCases where configuration.jobs.contains(job) {
            let held = try db.query("SELECT outbox.take_maintenance_turn($1, $2, make_interval(secs => $3))",
                                    [job.rawValue, configuration.holder, configuration.turnLease.inSeconds])
                .first!.decode(0, as: Bool.self)
            guard held else {
                // Another process does it; should the turn come back, the job is due at once.
                lastRun.withLock { $0[job] = nil }
                continue
            }
            round.held.insert(job)
            let now = ContinuousClock.now
            let every = job == .reap ? configuration.reapEvery : configuration.partitionsEvery
            guard lastRun.withLock({ $0[job] }).map({ now - $0 >= every }) ?? true else { continue }
            switch job {
            case .reap:
                round.reaped = try IntentStore.reapExpiredLeases(chatSettle: configuration.chatSettle, lease: configuration.lease, on: db)
                round.woken = Int(try db.query("SELECT outbox.wake_stranded_portals()").first!.decode(0, as: Int32.self))
            case .partitions:
                do {
                    round.partitions = try LogPartitions.ensure(on: db)
                    for partition in round.partitions { logger.notice("created log partition", metadata: ["partition": "\(partition)"]) }
                } catch let error as PostgresError where !error.isConnectionError {
                    // The months ahead exist already, and the default partition takes any append meanwhile.
                    logger.warning("could not create the log's next partitions; trying again in an hour", metadata: ["error": "\(error)"])
                }
            }
            lastRun.withLock { $0[job] = now }
        }
        return round
    }

    /// Runs rounds every `renewEvery` until `stop()`, reconnecting when the database goes; blocks.
    /// Gives its turns up on the way out.
    public func run() {
        var backoff = Duration.milliseconds(100)
        while !stopFlag.isSet {
            do {
                let db = try Connection(conninfo)
                backoff = .milliseconds(100)
                defer { _ = try? db.execute("SELECT outbox.release_maintenance_turn($1)", [configuration.holder]) }
                while !stopFlag.isSet {
                    do {
                        try round(on: db)
                    } catch let error as PostgresError where !error.isConnectionError && db.isOpen {
                        logger.error("the database refused a maintenance statement", metadata: ["error": "\(error)"])
                    }
                    wake.wait(timeout: configuration.renewEvery)
                }
            } catch {
                logger.warning("maintenance lost its database connection", metadata: ["error": "\(error)"])
                wake.wait(timeout: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    /// `run()` on a thread of its own, for async callers: returns once stopped.
    public func runUntilStopped() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue(label: "b24outbox.maintenance").async {
                self.run()
                done.resume()
            }
        }
    }

    public func stop() {
        stopFlag.set()
        wake.signal()
    }
}
