import Foundation
import Synchronization

/// Runs blocking libpq work for async callers: a fixed set of threads, each with its own
/// connection, takes jobs from one queue in arrival order. The Swift concurrency pool never
/// blocks on the database, and a `Connection` never crosses threads.
///
/// A thread whose connection is lost (server restart, network) opens a new one for its next job,
/// so the executor recovers by itself once the database is back.
public final class DatabaseExecutor: Sendable {
    public struct Configuration: Sendable {
        /// Threads, and so connections at most. Default 4.
        public var threads = 4
        /// Jobs waiting beyond this many fail at once with `ExecutorError.overloaded` instead of
        /// queueing without bound. Default 1,000.
        public var maxQueued = 1_000
        /// A connection idle for longer is checked (`SELECT 1`) before its next job, and
        /// replaced when it is dead: for jobs that come seldom and must not be run twice, whose
        /// connection a restart, a failover or an idle timeout may have closed meanwhile.
        /// nil (the default): a dead connection is found by the job that meets it.
        public var checkAfterIdle: Duration? = nil

        public init() {}
    }

    public enum ExecutorError: Error, Sendable, CustomStringConvertible {
        case overloaded, shutDown
        public var description: String {
            switch self {
            case .overloaded: "too many database jobs are waiting"
            case .shutDown: "the database executor has shut down"
            }
        }
    }

    /// Runs with a connection (nil when none could be opened, with the error); returns true to
    /// ask for one more run on a fresh connection.
    private typealias Job = @Sendable (_ connection: Connection?, _ error: (any Error)?, _ isRetry: Bool) -> Bool

    private struct Queue {
        var jobs: [Job] = []
        var head = 0
        var shutDown = false
        var count: Int { jobs.count - head }
    }

    private let conninfo: String
    private let configuration: Configuration
    private let queue = Mutex(Queue())
    private let available = NSCondition()
    private let finished = DispatchGroup()

    public init(conninfo: String, configuration: Configuration = Configuration()) {
        self.conninfo = conninfo
        var configuration = configuration
        configuration.threads = max(1, configuration.threads)
        self.configuration = configuration
        for number in 1...configuration.threads {
            let thread = Thread { [self] in self.serve() }
            thread.name = "b24outbox.db.\(number)"
            finished.enter()
            thread.start()
        }
    }

    /// Runs `body` with a connection on one of the executor's threads.
    ///
    /// - Parameter retryOnConnectionLoss: when the connection turns out to be dead (the server
    ///   restarted since its last use), run `body` once more on a fresh one. Only for work that
    ///   is safe to repeat: reads, and writes that store once whatever happens.
    public func run<T: Sendable>(
        retryOnConnectionLoss: Bool = false, _ body: @escaping @Sendable (Connection) throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job: Job = { connection, connectError, isRetry in
                guard let connection else {
                    continuation.resume(throwing: connectError ?? ExecutorError.shutDown)
                    return false
                }
                do {
                    continuation.resume(returning: try body(connection))
                } catch let error as PostgresError where error.isConnectionError && retryOnConnectionLoss && !isRetry {
                    return true
                } catch {
                    continuation.resume(throwing: error)
                }
                return false
            }
            do {
                try enqueue(job)
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    /// Stops taking jobs, fails those still queued, and waits for the threads to end.
    public func shutdown() {
        let abandoned: [Job] = queue.withLock { queue in
            queue.shutDown = true
            defer { queue.jobs = []; queue.head = 0 }
            return Array(queue.jobs[queue.head...])
        }
        available.lock()
        available.broadcast()
        available.unlock()
        for job in abandoned { _ = job(nil, ExecutorError.shutDown, true) }
        finished.wait()
    }

    private func enqueue(_ job: @escaping Job) throws {
        try queue.withLock { queue in
            guard !queue.shutDown else { throw ExecutorError.shutDown }
            guard queue.count < configuration.maxQueued else { throw ExecutorError.overloaded }
            queue.jobs.append(job)
        }
        available.lock()
        available.signal()
        available.unlock()
    }

    private func next() -> Job? {
        available.lock()
        defer { available.unlock() }
        while true {
            let taken: (job: Job?, stop: Bool) = queue.withLock { queue in
                guard queue.count > 0 else { return (nil, queue.shutDown) }
                let job = queue.jobs[queue.head]
                queue.head += 1
                if queue.head > 1024, queue.head * 2 > queue.jobs.count {
                    queue.jobs.removeFirst(queue.head)
                    queue.head = 0
                }
                return (job, false)
            }
            if let job = taken.job { return job }
            if taken.stop { return nil }
            available.wait()
        }
    }

    private func serve() {
        defer { finished.leave() }
        var connection: Connection?
        var lastUsed = ContinuousClock.now
        while let job = next() {
            if let idle = configuration.checkAfterIdle, let open = connection, ContinuousClock.now - lastUsed > idle {
                if (try? open.execute("SELECT 1")) == nil {
                    open.close()
                    connection = nil
                }
            }
            defer { lastUsed = .now }
            var isRetry = false
            while true {
                if connection == nil || !connection!.isOpen {
                    connection?.close()
                    do {
                        connection = try Connection(conninfo)
                    } catch {
                        connection = nil
                        _ = job(nil, error, true)
                        break
                    }
                }
                let again = job(connection, nil, isRetry)
                // A lost connection is replaced before the next job (or this one's second run);
                // so is one a job left inside a transaction, whose writes the next job must not join.
                if again || !connection!.isOpen || connection!.isInTransaction {
                    connection?.close()
                    connection = nil
                }
                guard again, !isRetry else { break }
                isRetry = true
            }
        }
        connection?.close()
    }
}
