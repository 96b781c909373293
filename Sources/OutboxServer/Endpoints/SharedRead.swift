import Synchronization

/// A database read shared by every request asking for it: one read at a time, and its result
/// kept for `interval`, so a client polling `/metrics` or `/readyz` as fast as it can costs one
/// read per interval on the status connection.
public final class SharedRead<Value: Sendable>: Sendable {
    private struct Reading: Sendable {
        var value: Result<Value, any Error>
        var at: ContinuousClock.Instant
    }

    private enum Next { case cached(Reading), wait(Task<Reading, Never>) }

    private let interval: Duration
    private let body: @Sendable () async throws -> Value
    private let state = Mutex<(last: Reading?, pending: Task<Reading, Never>?)>((nil, nil))
    private let readCount = Atomic<Int>(0)

    init(interval: Duration, _ body: @escaping @Sendable () async throws -> Value) {
        self.interval = interval
        self.body = body
    }

    /// Reads made so far.
    public var reads: Int { readCount.load(ordering: .relaxed) }

    /// The latest result, read now unless one from within the interval is at hand.
    func read() async -> Result<Value, any Error> {
        let next: Next = state.withLock { state in
            if let pending = state.pending { return .wait(pending) }
            if let last = state.last, ContinuousClock.now - last.at < interval { return .cached(last) }
            let task = Task { [self] in
                readCount.add(1, ordering: .relaxed)
                let value = await Result(catching: body)
                return Reading(value: value, at: .now)
            }
            state.pending = task
            return .wait(task)
        }
        switch next {
        case .cached(let reading):
            return reading.value
        case .wait(let task):
            let reading = await task.value
            state.withLock { state in
                if state.pending == task {
                    state.pending = nil
                    state.last = reading
                }
            }
            return reading.value
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
