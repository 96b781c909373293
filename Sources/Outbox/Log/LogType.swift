/// The types of log entries: every type the log may hold, and the only place Swift names them.
/// The log is append-only; each intent's entries, in order, explain every change of its row
/// (`b24outbox verify` folds them to prove it). The database refuses a type not listed in
/// `all` (constraint `log_type_known`, `sql/021_portal_state.sql`, which replaced 019's); a test keeps the two equal.
public enum LogType {
    // An intent's life, in its stream `intent-ID`.
    public static let intentEnqueued = "intent.enqueued"
    public static let intentClaimed = "intent.claimed"
    public static let deliverySucceeded = "delivery.succeeded"
    public static let deliveryFailed = "delivery.failed"
    public static let intentDead = "intent.dead"
    public static let intentReleased = "intent.released"
    public static let intentLeaseExpired = "intent.lease_expired"
    public static let intentReplayed = "intent.replayed"
    public static let intentCancelled = "intent.cancelled"
    /// A notification not sent because a newer one with its recipient and TAG was claimed, which
    /// replaces it on screen (`by`: that intent's id).
    public static let intentSuperseded = "intent.superseded"

    /// An event Bitrix24 sent (pushed to `serve`, or pulled from the offline queue), tokens removed.
    public static let bitrixEvent = "bitrix.event"
    /// In a chat intent's stream: Bitrix24 reported that a dialog in the chat it created ended.
    public static let chatDialogFinished = "chat.dialog_finished"

    // A portal's life, in its stream `portal-NAME`; the token entries are written by the SQL
    // functions of the token refresh (`sql/functions/append_token_log.sql`), tokens never.
    public static let portalAdded = "portal.added"
    public static let portalRemoved = "portal.removed"
    public static let portalMoved = "portal.moved"
    public static let portalTokensSet = "portal.tokens_set"
    public static let portalTokensRefreshed = "portal.tokens_refreshed"
    public static let portalTokenRefreshUnanswered = "portal.token_refresh_unanswered"
    public static let portalTokenRefreshRefused = "portal.token_refresh_refused"
    public static let portalTokensLost = "portal.tokens_lost"
    /// An operator paused the portal (`portal pause`): its intents wait, neither sent nor spent.
    public static let portalPaused = "portal.paused"
    public static let portalResumed = "portal.resumed"

    /// In the stream `log`: a month of the log left the database, archived to a file.
    public static let logArchived = "log.archived"

    /// Entries about an intent that record what happened around it without changing its row.
    public static let annotations = [bitrixEvent, chatDialogFinished]

    /// Every type, as the database's `log_type_known` lists them.
    public static let all = [
        intentEnqueued, intentClaimed, deliverySucceeded, deliveryFailed, intentDead, intentReleased,
        intentLeaseExpired, intentReplayed, intentCancelled, intentSuperseded, bitrixEvent, chatDialogFinished,
        portalAdded, portalRemoved, portalMoved, portalTokensSet, portalTokensRefreshed,
        portalTokenRefreshUnanswered, portalTokenRefreshRefused, portalTokensLost, portalPaused, portalResumed,
        logArchived,
    ]
}
