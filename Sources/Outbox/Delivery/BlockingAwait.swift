import Dispatch
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

/// A task executor whose jobs run on the thread in `runUntilFinished`. Jobs that arrive after
/// `finish` (work of a shared actor that was running on this thread, say, or a child task that
/// outlives the work) go to the global concurrent executor, so nothing is ever stranded.
final class CallingThreadExecutor: TaskExecutor {
    private struct State {
        var jobs: [UnownedJob] = []
        var finished = false
    }

    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let queued = state.withLock { state in
            guard !state.finished else { return false }
            state.jobs.append(job)
            return true
        }
        if queued {
            wake.signal()
        } else {
            globalConcurrentExecutor.enqueue(job)
        }
    }

    /// Called from the work's last job: after it, `runUntilFinished` returns.
    func finish() {
        state.withLock { $0.finished = true }
        wake.signal()
    }

    /// Runs jobs as they come until `finish`, then hands what is still queued to the global executor.
    func runUntilFinished() {
        while true {
            let jobs = state.withLock { state in
                defer { state.jobs.removeAll(keepingCapacity: true) }
                return state.jobs
            }
            for job in jobs { job.runSynchronously(on: asUnownedTaskExecutor()) }
            let leftovers: [UnownedJob]? = state.withLock { state in
                guard state.finished else { return nil }
                defer { state.jobs = [] }
                return state.jobs
            }
            if let leftovers {
                for job in leftovers { globalConcurrentExecutor.enqueue(job) }
                return
            }
            wake.wait()
        }
    }
}
