import Foundation
import Logging
import Postgres
import Synchronization

/// The outbox's maintenance, as one service: reaping expired leases (so a dead worker's intents
/// go out again) and creating the log's months ahead (so no append waits for one).
///
/// Every worker pool and every `serve` runs one, on a thread and connection of its own, but only
/// the process holding the maintenance turn does the work, so it runs once across all hosts. The
/// turn is a row with an expiry (`outbox.maintenance_turn`), renewed every `renewEvery`: a process
/// that stops in order gives it up at once, one that dies or is cut from the database loses it
/// within `turnLease`, and another takes it over.
public final class Maintenance: Sendable {
    public struct Configuration: Sendable {
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
        /// Whether this process held the turn.
        public var held: Bool
        /// Leases reaped.
        public var reaped: Int
        /// Log partitions created.
        public var partitions: [String]
    }

    let conninfo: String
    let configuration: Configuration
    let logger: Logger
    private let stopFlag = StopFlag()
    private let wake = WakeSignal()
    /// When each task last ran while this process held the turn; nil: due at once.
    private let due = Mutex<(reaped: ContinuousClock.Instant?, partitions: ContinuousClock.Instant?)>((nil, nil))

    public init(conninfo: String, configuration: Configuration = .init(), logger: Logger) {
        self.conninfo = conninfo
        self.configuration = configuration
        self.logger = logger
    }

    /// Takes or renews the turn and, holding it, does what is due. Safe to call from one thread at a time.
    @discardableResult
    public func round(on db: Connection) throws -> Round {
        let held = try db.query("SELECT outbox.take_maintenance_turn($1, make_interval(secs => $2))",
                                [configuration.holder, configuration.turnLease.inSeconds]).first!.decode(0, as: Bool.self)
        var round = Round(held: held, reaped: 0, partitions: [])
        guard held else {
            // Another process does the work; should the turn come back, everything is due at once.
            due.withLock { $0 = (nil, nil) }
            return round
        }
        let now = ContinuousClock.now
        let last = due.withLock { $0 }
        if last.reaped.map({ now - $0 >= configuration.reapEvery }) ?? true {
            round.reaped = try IntentStore.reapExpiredLeases(chatSettle: configuration.chatSettle, lease: configuration.lease, on: db)
            due.withLock { $0.reaped = now }
        }
        if last.partitions.map({ now - $0 >= configuration.partitionsEvery }) ?? true {
            do {
                round.partitions = try LogPartitions.ensure(on: db)
                for partition in round.partitions { logger.notice("created log partition", metadata: ["partition": "\(partition)"]) }
            } catch let error as PostgresError where !error.isConnectionError {
                // The months ahead exist already, and the default partition takes any append meanwhile.
                logger.warning("could not create the log's next partitions; trying again in an hour", metadata: ["error": "\(error)"])
            }
            due.withLock { $0.partitions = now }
        }
        return round
    }

    /// Runs rounds every `renewEvery` until `stop()`, reconnecting when the database goes; blocks.
    /// Gives the turn up on the way out.
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
