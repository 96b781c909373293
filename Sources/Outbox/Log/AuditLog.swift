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

        /// Whether the filter picks intents by whom or where they were sent (user, tag, portal)
        /// rather than one intent (id, key, chat) or a type of entry: then the human view of the
        /// log is one line per intent (`intents(_:on:)`).
        public var spansIntents: Bool {
            (user != nil || tag != nil || portal != nil) && intentID == nil && key == nil && chat == nil && type == nil
        }
    }

    public struct Entry: Sendable, Codable, Hashable {
        public var seq: Int64
        public var recordedAt: Date
        public var stream: String
        public var type: String
        public var intentID: Int64?
        public var portal: String?
        public var data: JSONValue

        public init(seq: Int64, recordedAt: Date, stream: String, type: String, intentID: Int64? = nil,
                    portal: String? = nil, data: JSONValue = [:]) {
            self.seq = seq
            self.recordedAt = recordedAt
            self.stream = stream
            self.type = type
            self.intentID = intentID
            self.portal = portal
            self.data = data
        }
    }

    public static func entries(_ filter: Filter, on db: Connection) throws -> [Entry] {
        try entries(filter, among: nil, on: db)
    }

    /// - Parameter seqs: only these entries (what a `Follower` found new).
    static func entries(_ filter: Filter, among seqs: [Int64]?, on db: Connection) throws -> [Entry] {
        try db.query("""
            SELECT l.seq, l.recorded_at, l.stream, l.type, l.intent_id, p.name, l.data::text
              FROM \(matching)
             ORDER BY l.seq
             LIMIT $11
            """, parameters(filter, among: seqs)
        ).map { try decodeEntry($0) }
    }

    /// The log entries `filter` selects, as `l` joined to their intent `i` and portal `p`; its
    /// parameters are `parameters(filter, among:)`, the limit `$11`.
    static let matching = """
        outbox.log l
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
        """

    static func parameters(_ filter: Filter, among seqs: [Int64]?) -> [any PostgresEncodable] {
        [filter.intentID, filter.portal, filter.type, filter.since, filter.until, filter.user, filter.chat,
         filter.tag, filter.key, filter.afterSeq, filter.limit, seqs.map(Follower.arrayText)]
    }

    /// An entry from the columns seq, recorded_at, stream, type, intent_id, portal name, data text.
    static func decodeEntry(_ row: Row, from column: Int = 0) throws -> Entry {
        Entry(
            seq: try row.decode(column), recordedAt: try row.decode(column + 1), stream: try row.decode(column + 2),
            type: try row.decode(column + 3), intentID: try row.decode(column + 4), portal: try row.decode(column + 5),
            data: try JSONValue(jsonText: try row.decode(column + 6, as: String.self)))
    }
}
