import Outbox
import Postgres
import Synchronization

/// The queue's gauges for `/metrics`, read from the database at most once per `interval` and
/// shared by every scrape meanwhile: a scraper polling as fast as it can costs one cheap read
/// per interval.
public final class GaugeReader: Sendable {
    private struct Reading: Sendable {
        var gauges: Result<Stats.Gauges, any Error>
        var at: ContinuousClock.Instant
    }

    private let database: DatabaseExecutor
    private let interval: Duration
    private let state = Mutex<(last: Reading?, pending: Task<Reading, Never>?)>((nil, nil))
    private let readCount = Atomic<Int>(0)

    /// Reads of the database made so far.
    public var reads: Int { readCount.load(ordering: .relaxed) }

    init(database: DatabaseExecutor, interval: Duration = .seconds(1)) {
        self.database = database
        self.interval = interval
    }

    /// The latest gauges, read now unless a read within the interval is at hand.
    func read() async -> Result<Stats.Gauges, any Error> {
        enum Next { case cached(Reading), wait(Task<Reading, Never>) }
        let next: Next = state.withLock { state in
            if let pending = state.pending { return .wait(pending) }
            if let last = state.last, ContinuousClock.now - last.at < interval { return .cached(last) }
            let task = Task { [self] in
                readCount.add(1, ordering: .relaxed)
                let gauges = await Result(catching: {
                    try await database.run(retryOnConnectionLoss: true) { db in try Stats.gauges(on: db) }
                })
                return Reading(gauges: gauges, at: .now)
            }
            state.pending = task
            return .wait(task)
        }
        switch next {
        case .cached(let reading):
            return reading.gauges
        case .wait(let task):
            let reading = await task.value
            state.withLock { state in
                if state.pending == task {
                    state.pending = nil
                    state.last = reading
                }
            }
            return reading.gauges
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
