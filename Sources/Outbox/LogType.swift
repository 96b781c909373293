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

    /// An event Bitrix24 sent (pushed to `serve`, or pulled from the offline queue), tokens removed.
    public static let bitrixEvent = "bitrix.event"
    /// In a chat intent's stream: Bitrix24 reported that a dialog in the chat it created ended.
    public static let chatDialogFinished = "chat.dialog_finished"

    /// Entries about an intent that record what happened around it without changing its row.
    public static let annotations = [bitrixEvent, chatDialogFinished]
}
