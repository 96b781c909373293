import Bitrix24Wire
import Foundation

/// When to try a failed delivery again: exponential backoff with full jitter (a random delay
/// between zero and `base × 2^(attempt-1)`, capped), and a limit on attempts.
public struct RetryPolicy: Sendable, Hashable {
    /// The first retry waits up to this long.
    public var base: Duration = .seconds(1)
    /// No wait exceeds this.
    public var cap: Duration = .seconds(300)
    /// After this many attempts the intent is dead.
    public var maxAttempts: Int = 10

    public init(base: Duration = .seconds(1), cap: Duration = .seconds(300), maxAttempts: Int = 10) {
        self.base = base
        self.cap = cap
        self.maxAttempts = maxAttempts
    }

    /// The delay before the attempt after `attempt`, or nil when no attempt is left.
    public func delay(after attempt: Int, using random: inout some RandomNumberGenerator) -> Duration? {
        guard attempt < maxAttempts else { return nil }
        let ceiling = min(cap.inSeconds, base.inSeconds * pow(2, Double(max(0, attempt - 1))))
        return .milliseconds(Int64((Double.random(in: 0...ceiling, using: &random) * 1000).rounded()))
    }

    public func delay(after attempt: Int) -> Duration? {
        var random = SystemRandomNumberGenerator()
        return delay(after: attempt, using: &random)
    }
}
