/// The types of log entries. The log is append-only; each intent's entries, in order, explain
/// every change of its row (`b24outbox verify` folds them to prove it).
public enum LogType {
    public static let intentEnqueued = "intent.enqueued"
    public static let intentClaimed = "intent.claimed"
    public static let deliverySucceeded = "delivery.succeeded"
    public static let deliveryFailed = "delivery.failed"
    public static let intentDead = "intent.dead"
    public static let intentReleased = "intent.released"
    public static let intentLeaseExpired = "intent.lease_expired"
    public static let intentReplayed = "intent.replayed"
    public static let intentCancelled = "intent.cancelled"
}
