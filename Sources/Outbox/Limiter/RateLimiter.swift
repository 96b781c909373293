import Foundation
import Postgres

/// The rate limiter: what the worker asks of each portal's limits, shared by every worker of
/// every host through PostgreSQL. Its rules live in SQL, one function per file in
/// `sql/functions/`: the portal's leaky bucket (`take_rate_slots`, `return_rate_slots`), its
/// pause after `QUERY_LIMIT_EXCEEDED` (`note_rate_limited`), a method's pause after
/// `OPERATION_TIME_LIMIT` (`pause_method`), and the turns that make a claim go to a portal that
/// can send now (`take_turn`, `fold_wakeups`, `wake_portals`), which the claim itself asks
/// (`IntentStore.claimTurn`).
public enum RateLimiter {
    /// Up to `wanted` requests from the portal's bucket: how many were granted and, when none
    /// was, how long until one frees.
    public static func take(_ wanted: Int, portalID: Int64, on db: Connection) throws -> (granted: Int, wait: Duration) {
        let row = try db.queryPrepared("SELECT granted, wait FROM outbox.take_rate_slots($1, $2::integer)",
                                       [portalID, max(1, wanted)]).first!
        return (try row.decode(0), .milliseconds(Int64((try row.decode(1, as: Double.self) * 1000).rounded(.up))))
    }

    /// Gives back requests taken but not sent (not while the portal is paused for its limit).
    public static func giveBack(_ slots: Int, portalID: Int64, on db: Connection) throws {
        guard slots > 0 else { return }
        try db.execute("SELECT outbox.return_rate_slots($1, $2::integer)", [portalID, slots])
    }

    /// Whether a `QUERY_LIMIT_EXCEEDED` seen by any worker pauses the portal now: requests
    /// granted before the pause are void.
    public static func isPaused(portalID: Int64, on db: Connection) throws -> Bool {
        try db.queryPrepared(
            "SELECT coalesce(bool_or(paused_until > clock_timestamp()), false) FROM outbox.portal_rate WHERE portal_id = $1",
            [portalID]).first!.decode(0)
    }

    /// The portal refused a request for its limit: its bucket is fuller than our mirror of it.
    public static func noteRateLimited(portalID: Int64, on db: Connection) throws {
        try db.execute("SELECT outbox.note_rate_limited($1)", [portalID])
    }

    /// The portal spent its time on `method` (`OPERATION_TIME_LIMIT`): the method waits `pause`.
    public static func pauseMethod(_ method: String, for pause: Duration, portalID: Int64, on db: Connection) throws {
        try db.execute("SELECT outbox.pause_method($1, $2, $3)", [portalID, method, pause.inSeconds])
    }

    /// The portal's methods paused now, with the time each has left.
    public static func methodPauses(portalID: Int64, on db: Connection) throws -> [String: Duration] {
        var left: [String: Duration] = [:]
        for row in try db.queryPrepared("""
            SELECT method, extract(epoch FROM paused_until - now())::float8
              FROM outbox.method_pauses WHERE portal_id = $1 AND paused_until > now()
            """, [portalID]) {
            left[try row.decode(0)] = .milliseconds(Int64((try row.decode(1, as: Double.self) * 1000).rounded(.up)))
        }
        return left
    }
}
