import Bitrix24
import Bitrix24Wire
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
    /// Try again after `after`, counted on the database's clock.
    case retry(after: Duration, details: JSONValue)
    /// Never going to work, or out of attempts.
    case dead(details: JSONValue)
    /// Not sent at all (rate limit, pause, shutdown): back to pending without spending the
    /// attempt, due again after `after` (the database's clock).
    case released(after: Duration, reason: String)
}

extension DeliveryOutcome {
    /// The same outcome with its details cut to the few this service writes itself (method,
    /// error code and class, HTTP status), and a note of why: for recording an outcome whose
    /// full details the database refused (a value from the portal it cannot store).
    func withDetailsRefused(by error: any Error) -> DeliveryOutcome {
        func cut(_ details: JSONValue) -> JSONValue {
            var kept: [String: JSONValue] = ["details_refused": .string("\(error)")]
            for key in ["method", "error", "class", "http_status", "batch_size", "gave_up_after_attempts"] {
                if let value = details[key], value.stringValue.map({ !$0.contains("\u{0}") }) ?? true { kept[key] = value }
            }
            return .object(kept)
        }
        switch self {
        case .delivered(let resultID, let details): return .delivered(resultID: resultID, details: cut(details))
        case .retry(let after, let details): return .retry(after: after, details: cut(details))
        case .dead(let details): return .dead(details: cut(details))
        case .released: return self
        }
    }
}
