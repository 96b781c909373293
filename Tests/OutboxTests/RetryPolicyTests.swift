import Bitrix24Simulator
import Outbox
import Testing

struct RetryPolicyTests {
    @Test func delaysStayUnderTheExponentialCeilingAndTheCap() {
        let policy = RetryPolicy(base: .seconds(1), cap: .seconds(60), maxAttempts: 20)
        var random = SeededGenerator(seed: 42)
        for attempt in 1..<20 {
            let ceiling = min(60.0, pow2(attempt - 1))
            for _ in 0..<200 {
                let delay = policy.delay(after: attempt, using: &random)!
                #expect(delay >= .zero)
                #expect(delay <= .milliseconds(Int64(ceiling * 1000)))
            }
        }
    }

    @Test func jitterSpreadsTheDelays() {
        let policy = RetryPolicy(base: .seconds(1), cap: .seconds(300), maxAttempts: 20)
        var random = SeededGenerator(seed: 7)
        let delays = (0..<500).map { _ in policy.delay(after: 8, using: &random)! }
        // Full jitter over [0, 128 s]: both halves of the range are used.
        #expect(delays.contains { $0 < .seconds(40) })
        #expect(delays.contains { $0 > .seconds(88) })
    }

    @Test func noDelayOnceAttemptsAreSpent() {
        let policy = RetryPolicy(maxAttempts: 3)
        #expect(policy.delay(after: 2) != nil)
        #expect(policy.delay(after: 3) == nil)
        #expect(policy.delay(after: 9) == nil)
    }

    private func pow2(_ n: Int) -> Double { (0..<n).reduce(1.0) { acc, _ in acc * 2 } }
}
