import Foundation
import Testing

@testable import Outbox

/// `blockingAwait` runs async work on the Dispatch thread that waits for it. Each test calls
/// it from a Dispatch thread, as workers do, never from one of Swift's task threads.
@Suite struct BlockingAwaitTests {
    private actor Counter {
        var value = 0
        func increment() -> Int {
            value += 1
            return value
        }
    }

    private struct Failure: Error, Equatable {}


    /// Runs `body` on a Dispatch thread and returns what it returned.
    private static func onDispatchThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }

    @Test func theWorkRunsOnTheWaitingThreadBeforeAndAfterItsWaits() async throws {
        let counter = Counter()
        let (waiter, before, after, total) = try await Self.onDispatchThread {
            let waiter = pthread_self()
            let result = try blockingAwait { () async throws -> (pthread_t, pthread_t, Int) in
                let before = pthread_self()
                try await Task.sleep(for: .milliseconds(5))
                _ = await counter.increment()
                return (before, pthread_self(), await counter.increment())
            }
            return (waiter, result.0, result.1, result.2)
        }
        #expect(before == waiter)
        #expect(after == waiter)
        #expect(total == 2)
    }

    @Test func anErrorOfTheWorkIsThrownToTheWaiter() async {
        await #expect(throws: Failure.self) {
            try await Self.onDispatchThread {
                try blockingAwait { () async throws -> Int in
                    try await Task.sleep(for: .milliseconds(1))
                    throw Failure()
                }
            }
        }
    }

    /// Work that reaches the executor after it finished (a shared actor's, say) runs on the
    /// global executor instead of waiting for a thread that has moved on.
    @Test(.timeLimit(.minutes(1)))
    func jobsAfterTheFinishStillRun() async throws {
        let executor = CallingThreadExecutor()
        executor.finish()
        executor.runUntilFinished()
        let value = await Task(executorPreference: executor) { 42 }.value
        #expect(value == 42)
    }

    @Test(.timeLimit(.minutes(1)))
    func aFinishFromAnotherThreadEndsTheRun() async throws {
        let executor = CallingThreadExecutor()
        try await Self.onDispatchThread {
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.05) { executor.finish() }
            executor.runUntilFinished()
        }
    }
}
