import Bitrix24Wire
import Foundation
import Postgres

extension AuditLog {
    /// One intent among those a filter's entries are about: what it is, whom it is for, where it
    /// stands now, and what Bitrix24 last answered for it.
    public struct IntentSummary: Sendable, Codable, Hashable {
        public var intentID: Int64
        public var portal: String
        /// `notify.personal`, `notify.system` or `chat.create`.
        public var kind: String
        /// The intent's status now (pending, claimed, delivered, dead, cancelled).
        public var status: String
        public var attempts: Int
        /// A notification's USER_ID, or a chat's USERS.
        public var users: [Int64]
        /// How many of its entries the filter selected, and when the latest of them was recorded.
        public var entries: Int
        public var lastRecordedAt: Date
        /// Its latest `delivery.succeeded`, `delivery.failed` or `intent.dead` entry, whether the
        /// filter selected it or not; nil before any answer.
        public var lastAnswer: Entry?

        public init(intentID: Int64, portal: String, kind: String, status: String, attempts: Int = 0, users: [Int64] = [],
                    entries: Int = 1, lastRecordedAt: Date, lastAnswer: Entry? = nil) {
            self.intentID = intentID
            self.portal = portal
            self.kind = kind
            self.status = status
            self.attempts = attempts
            self.users = users
            self.entries = entries
            self.lastRecordedAt = lastRecordedAt
            self.lastAnswer = lastAnswer
        }
    }

    /// The entry types that hold an answer of Bitrix24 (or a worker's verdict on one).
    static let answerTypes = [LogType.deliverySucceeded, LogType.deliveryFailed, LogType.intentDead]

    /// One summary per intent that has entries `filter` selects, in the order of the latest of
    /// them; `filter.limit` counts intents. Entries of no intent (portal changes, events) are
    /// left out.
    public static func intents(_ filter: Filter, on db: Connection) throws -> [IntentSummary] {
        try db.query("""
            WITH matched AS (
                SELECT l.intent_id, count(*) AS entries, max(l.seq) AS last_seq, max(l.recorded_at) AS last_at
                  FROM \(matching)
                   AND l.intent_id IS NOT NULL
                 GROUP BY l.intent_id
                 ORDER BY max(l.seq)
                 LIMIT $11
            )
            SELECT m.intent_id, p.name, i.kind, i.status, i.attempts,
                   coalesce(CASE jsonb_typeof(i.payload->'USERS') WHEN 'array' THEN i.payload->'USERS' END,
                            CASE WHEN i.payload ? 'USER_ID' THEN jsonb_build_array(i.payload->'USER_ID') END,
                            '[]')::text,
                   m.entries, m.last_at,
                   a.seq, a.recorded_at, a.stream, a.type, a.intent_id, p.name, a.data::text
              FROM matched m
              JOIN outbox.intents i ON i.id = m.intent_id
              JOIN outbox.portals p ON p.id = i.portal_id
              -- Walks the intent's entries back from its newest (log_intent): a few at most.
              LEFT JOIN LATERAL (SELECT seq, recorded_at, stream, type, intent_id, data FROM outbox.log
                                  WHERE intent_id = m.intent_id AND type = ANY($13::text[])
                                  ORDER BY seq DESC LIMIT 1) a ON true
             ORDER BY m.last_seq
            """, parameters(filter, among: nil) + [answerTypes]
        ).map { row in
            let users = try JSONValue(jsonText: try row.decode(5, as: String.self)).arrayValue ?? []
            return IntentSummary(
                intentID: try row.decode(0), portal: try row.decode(1), kind: try row.decode(2), status: try row.decode(3),
                attempts: try row.decode(4), users: users.compactMap(\.intValue), entries: try row.decode(6),
                lastRecordedAt: try row.decode(7),
                lastAnswer: try row.decode(8, as: Int64?.self) == nil ? nil : try decodeEntry(row, from: 8))
        }
    }
}
