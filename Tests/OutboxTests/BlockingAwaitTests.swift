import Foundation
import Synchronization
import Testing

@testable import Outbox

/// `blockingAwait` runs async work on the Dispatch thread that waits for it.
@Suite struct BlockingAwaitTests {
    private actor Counter {
        var value = 0
        func increment() -> Int {
            value += 1
            return value
        }
    }

    private struct Failure: Error, Equatable {}

    private static func threadID() -> pthread_t { pthread_self() }

    @Test func theWorkRunsOnTheWaitingThreadBeforeAndAfterItsWaits() throws {
        let counter = Counter()
        let (waiter, before, after, total) = try DispatchQueue.global().sync {
            let waiter = Self.threadID()
            let result = try blockingAwait { () async throws -> (pthread_t, pthread_t, Int) in
                let before = Self.threadID()
                try await Task.sleep(for: .milliseconds(5))
                _ = await counter.increment()
                return (before, Self.threadID(), await counter.increment())
            }
            return (waiter, result.0, result.1, result.2)
        }
        #expect(before == waiter)
        #expect(after == waiter)
        #expect(total == 2)
    }

    @Test func anErrorOfTheWorkIsThrownToTheWaiter() {
        #expect(throws: Failure.self) {
            try blockingAwait { () async throws -> Int in
                try await Task.sleep(for: .milliseconds(1))
                throw Failure()
            }
        }
    }

    /// A task started inside the work inherits its executor; once the work is done, that task's
    /// jobs run on the global executor instead of waiting for a thread that has moved on.
    @Test func aTaskThatOutlivesTheWorkStillFinishes() throws {
        let finished = DispatchSemaphore(value: 0)
        try blockingAwait { () async throws -> Void in
            Task {
                try? await Task.sleep(for: .milliseconds(50))
                finished.signal()
            }
        }
        #expect(finished.wait(timeout: .now() + 5) == .success)
    }
}
