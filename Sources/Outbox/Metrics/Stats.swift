import Foundation
import Postgres

/// The numbers an operator looks at first.
public struct Stats: Sendable, Codable {
    public struct Count: Sendable, Codable, Hashable {
        public var portal: String
        public var status: String
        public var count: Int
    }

    public struct DeadReason: Sendable, Codable, Hashable {
        public var error: String
        public var count: Int
    }

    public var intents: [Count]
    /// Seconds since the oldest pending intent was enqueued (nil when none is pending).
    public var oldestPendingAgeSeconds: Double?
    public var deliveredLastMinute: Int
    public var failedLastMinute: Int
    public var deadByError: [DeadReason]

    /// The numbers of every portal, or of the one named `portal`.
    public static func read(portal: String? = nil, on db: Connection) throws -> Stats {
        // Every portal's intents in one scan; one portal's through its keys, whose primary key
        // starts with the portal.
        let counts = try db.query(portal == nil ? """
            SELECT p.name, i.status, count(*) FROM outbox.intents i JOIN outbox.portals p ON p.id = i.portal_id
             GROUP BY 1, 2 ORDER BY 1, 2
            """ : """
            SELECT p.name, i.status, count(*) FROM outbox.portals p
              JOIN outbox.intent_keys k ON k.portal_id = p.id
              JOIN outbox.intents i ON i.id = k.intent_id
             WHERE p.name = $1
             GROUP BY 1, 2 ORDER BY 1, 2
            """, portal.map { [$0] } ?? []).map { Count(portal: try $0.decode(0), status: try $0.decode(1), count: try $0.decode(2)) }
        let summary = try db.query("""
            WITH chosen AS (SELECT id FROM outbox.portals WHERE $1::text IS NULL OR name = $1)
            SELECT extract(epoch FROM now() - (SELECT min(created_at) FROM outbox.intents
                                                WHERE status = 'pending' AND portal_id IN (SELECT id FROM chosen)))::float8,
                   (SELECT count(*) FROM outbox.log WHERE type = 'delivery.succeeded' AND recorded_at > now() - interval '1 minute'
                       AND portal_id IN (SELECT id FROM chosen)),
                   (SELECT count(*) FROM outbox.log WHERE type = 'delivery.failed' AND recorded_at > now() - interval '1 minute'
                       AND portal_id IN (SELECT id FROM chosen))
            """, [portal]).first!
        let dead = try db.query("""
            SELECT coalesce(i.last_error->>'error', 'unknown'), count(*) FROM outbox.intents i
              JOIN outbox.portals p ON p.id = i.portal_id
             WHERE i.status = 'dead' AND ($1::text IS NULL OR p.name = $1)
             GROUP BY 1 ORDER BY 2 DESC, 1
            """, [portal]).map { DeadReason(error: try $0.decode(0), count: try $0.decode(1)) }
        return Stats(
            intents: counts, oldestPendingAgeSeconds: try summary.decode(0), deliveredLastMinute: try summary.decode(1),
            failedLastMinute: try summary.decode(2), deadByError: dead)
    }
}

extension Stats {
    /// What `/metrics` reads: intents by status, and how long the most overdue due intent has
    /// waited (0 when none is due).
    public struct Gauges: Sendable {
        public var intentsByStatus: [IntentStatus: Int]
        public var queueLagSeconds: Double
    }

    /// Cheap whatever the history (`outbox.intent_totals`, migration 016): delivered and
    /// cancelled from the counters the database keeps, the live statuses through their partial
    /// indexes, the lag from the pending index.
    public static func gauges(on db: Connection) throws -> Gauges {
        var byStatus: [IntentStatus: Int] = [:]
        for row in try db.query("SELECT status, n FROM outbox.intent_totals()") {
            if let status = IntentStatus(rawValue: try row.decode(0)) { byStatus[status] = try row.decode(1) }
        }
        let lag: Double = try db.query("""
            SELECT coalesce(extract(epoch FROM now() - min(next_attempt_at))::float8, 0)
              FROM outbox.intents WHERE status = 'pending' AND next_attempt_at <= now()
            """).first!.decode(0)
        return Gauges(intentsByStatus: byStatus, queueLagSeconds: max(0, lag))
    }
}

extension Stats {
    /// The report `b24outbox stats` prints (and the demo shows), a line each.
    public var lines: [String] {
        var lines = ["intents:"]
        if intents.isEmpty { lines.append("  none") }
        for c in intents { lines.append("  \(c.portal)\t\(c.status)\t\(c.count)") }
        lines.append("oldest pending: \(oldestPendingAgeSeconds.map { String(format: "%.1f s", $0) } ?? "none")")
        lines.append("last minute: \(deliveredLastMinute) delivered, \(failedLastMinute) failed attempts")
        if !deadByError.isEmpty {
            lines.append("dead by error:")
            for d in deadByError { lines.append("  \(d.error)\t\(d.count)") }
        }
        return lines
    }
}
