import Dispatch
import Foundation
import Synchronization

/// Runs async work from a Dispatch worker thread and waits for it: the worker threads are
/// dedicated and may block, the Swift concurrency pool never does.
///
/// The work runs on the waiting thread itself: its task prefers an executor that hands every
/// job back to that thread. A call suspended on I/O then wakes only the thread that waits for
/// it, instead of a pool thread that in turn wakes the waiter, a hop saved per resumption.
func blockingAwait<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) throws -> T {
    let executor = CallingThreadExecutor()
    let box = Mutex<Result<T, any Error>?>(nil)
    Task(executorPreference: executor) {
        let result: Result<T, any Error>
        do { result = .success(try await operation()) } catch { result = .failure(error) }
        box.withLock { $0 = result }
        executor.finish()
    }
    executor.runUntilFinished()
    return try box.withLock { $0! }.get()
}

/// A task executor whose jobs run on one thread, the one that calls `runUntilFinished` or, in
/// a worker's loop, `runReady` between its database steps. Jobs that arrive after `finish`
/// (work of a shared actor that was running on this thread, say, or a child task that outlives
/// the work) go to the global concurrent executor, so nothing is ever stranded.
final class CallingThreadExecutor: TaskExecutor {
    private struct State {
        var jobs: [UnownedJob] = []
        var finished = false
        /// Counts `poke()`s, so a wait can tell one came after it looked.
        var pokes: UInt64 = 0
    }

    private let state = Mutex(State())
    private let condition = NSCondition()

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let queued = state.withLock { state in
            guard !state.finished else { return false }
            state.jobs.append(job)
            return true
        }
        if queued {
            signal()
        } else {
            globalConcurrentExecutor.enqueue(job)
        }
    }

    private func signal() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    /// Called from the work's last job, or by the thread when it stops running jobs: what is
    /// still queued, and every later job, goes to the global executor.
    func finish() {
        let leftovers = state.withLock { state in
            state.finished = true
            defer { state.jobs = [] }
            return state.jobs
        }
        for job in leftovers { globalConcurrentExecutor.enqueue(job) }
        signal()
    }

    /// Ends a wait in progress (or the next one) without a job: a wake-up for the thread.
    func poke() {
        state.withLock { $0.pokes &+= 1 }
        signal()
    }

    /// Where the pokes stand now: pass it to `wait(after:timeout:)`.
    var pokes: UInt64 { state.withLock { $0.pokes } }

    /// Runs the jobs queued now, and those they queue, up to `limit` rounds; returns how many ran.
    @discardableResult
    func runReady(limit: Int = 64) -> Int {
        var ran = 0
        for _ in 0..<limit {
            let jobs = state.withLock { state in
                defer { state.jobs.removeAll(keepingCapacity: true) }
                return state.jobs
            }
            if jobs.isEmpty { break }
            for job in jobs { job.runSynchronously(on: asUnownedTaskExecutor()) }
            ran += jobs.count
        }
        return ran
    }

    /// Waits until a job is queued, a `poke()` came after `seen`, or `timeout` passes.
    func wait(after seen: UInt64, timeout: Duration) {
        let deadline = Date().addingTimeInterval(max(0, timeout.inSeconds))
        condition.lock()
        defer { condition.unlock() }
        while true {
            let ready = state.withLock { !$0.jobs.isEmpty || $0.pokes != seen || $0.finished }
            if ready { return }
            if !condition.wait(until: deadline) { return }
        }
    }

    /// Runs jobs as they come until `finish`.
    func runUntilFinished() {
        while true {
            runReady(limit: 1)
            let seen = pokes
            if state.withLock({ $0.finished }) { return }
            wait(after: seen, timeout: .seconds(3600))
        }
    }
}
