import Bitrix24
import Bitrix24Wire
import Foundation
import Postgres

/// Reads the log for auditors: "what did we send to user 10 last week, and what did Bitrix24
/// answer?" is one filter.
public enum AuditLog {
    public struct Filter: Sendable {
        public var intentID: Int64?
        public var portal: String?
        /// An exact type (`delivery.failed`) or a family (`delivery`).
        public var type: String?
        public var since: Date?
        public var until: Date?
        /// Entries of intents addressed to this user (notification USER_ID, or a chat's USERS).
        public var user: Int64?
        /// Entries of the chat intent that created this chat id, and events about the chat.
        public var chat: Int64?
        public var tag: String?
        public var key: String?
        /// Only entries after this sequence number (for paging and `--follow`).
        public var afterSeq: Int64 = 0
        public var limit: Int = 1000

        public init() {}
    }

    public struct Entry: Sendable, Codable, Hashable {
        public var seq: Int64
        public var recordedAt: Date
        public var stream: String
        public var type: String
        public var intentID: Int64?
        public var portal: String?
        public var data: JSONValue
    }

    public static func entries(_ filter: Filter, on db: Connection) throws -> [Entry] {
        try entries(filter, among: nil, on: db)
    }

    /// - Parameter seqs: only these entries (what a `Follower` found new).
    static func entries(_ filter: Filter, among seqs: [Int64]?, on db: Connection) throws -> [Entry] {
        try db.query("""
            SELECT l.seq, l.recorded_at, l.stream, l.type, l.intent_id, p.name, l.data::text
              FROM outbox.log l
              LEFT JOIN outbox.intents i ON i.id = l.intent_id
              LEFT JOIN outbox.portals p ON p.id = l.portal_id
             WHERE l.seq > $10
               AND ($1::bigint IS NULL OR l.intent_id = $1)
               AND ($2::text IS NULL OR p.name = $2)
               AND ($3::text IS NULL OR l.type = $3 OR l.type LIKE $3 || '.%')
               AND ($4::timestamptz IS NULL OR l.recorded_at >= $4)
               AND ($5::timestamptz IS NULL OR l.recorded_at < $5)
               AND ($6::bigint IS NULL OR i.payload->'USER_ID' = to_jsonb($6::bigint)
                    OR i.payload->'USERS' @> jsonb_build_array($6::bigint))
               AND ($7::bigint IS NULL OR (i.kind = 'chat.create' AND i.result_id = $7)
                    OR l.data->'chat_ids' @> jsonb_build_array($7::bigint))
               AND ($8::text IS NULL OR i.payload->>'TAG' = $8)
               AND ($9::text IS NULL OR i.idempotency_key = $9)
               AND ($12::text IS NULL OR l.seq = ANY($12::text::bigint[]))
             ORDER BY l.seq
             LIMIT $11
            """, [filter.intentID, filter.portal, filter.type, filter.since, filter.until, filter.user, filter.chat,
                  filter.tag, filter.key, filter.afterSeq, filter.limit, seqs.map(Follower.arrayText)]
        ).map { row in
            Entry(
                seq: try row.decode(0), recordedAt: try row.decode(1), stream: try row.decode(2), type: try row.decode(3),
                intentID: try row.decode(4), portal: try row.decode(5),
                data: try JSONValue(jsonText: try row.decode(6, as: String.self)))
        }
    }
}
