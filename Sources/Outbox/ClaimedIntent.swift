import Bitrix24
import Foundation

/// An intent a worker holds under a lease.
public struct ClaimedIntent: Sendable, Hashable {
    public var id: Int64
    public var portalID: Int64
    public var kind: IntentKind
    public var payload: [String: JSONValue]
    public var key: String
    /// This attempt's number, from 1.
    public var attempt: Int
    /// When the lease ends: past it, another worker may reclaim the intent.
    public var leaseExpiresAt: Date
    /// When the producer enqueued it (for the enqueue-to-delivered latency).
    public var enqueuedAt: Date
}

/// How one delivery attempt ended, as recorded in the log and the projection.
public enum DeliveryOutcome: Sendable, Hashable {
    /// Bitrix24 did it: the chat or notification id.
    case delivered(resultID: Int64?, details: JSONValue)
    /// Try again at `retryAt`.
    case retry(at: Date, details: JSONValue)
    /// Never going to work, or out of attempts.
    case dead(details: JSONValue)
    /// Not sent at all (rate limit, pause, shutdown): back to pending without spending the attempt.
    case released(at: Date, reason: String)
}
