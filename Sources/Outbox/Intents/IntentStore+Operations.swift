import Foundation
import Postgres

/// Operator actions on intents: cancel and replay. Each changes rows and appends the log
/// entries that explain it in one statement.
extension IntentStore {
    /// Cancels intents that are pending (or dead). Returns the ids cancelled; others (delivered,
    /// in flight, already cancelled, unknown) are left as they are.
    public static func cancel(_ ids: [Int64], by actor: String, on db: Connection) throws -> [Int64] {
        try db.query(EmbeddedSQL.cancelIntents, [ids, actor]).map { try $0.decode(0) }
    }

    /// Which intents a replay takes: explicit ids, or a filter. Only intents at rest (dead,
    /// cancelled or delivered) are replayed; pending and in-flight ones are left alone.
    public struct ReplaySelection: Sendable {
        public var ids: [Int64]?
        public var statuses: [IntentStatus] = [.dead]
        public var portal: String?
        public var kind: IntentKind?
        public var errorCode: String?
        public var since: Date?

        public init(ids: [Int64]? = nil, statuses: [IntentStatus] = [.dead], portal: String? = nil,
                    kind: IntentKind? = nil, errorCode: String? = nil, since: Date? = nil) {
            self.ids = ids
            self.statuses = statuses
            self.portal = portal
            self.kind = kind
            self.errorCode = errorCode
            self.since = since
        }
    }

    /// Sends the selected intents again: back to pending with a fresh attempt count, logged as
    /// `intent.replayed`. Delivery stays idempotent (TAG, chat lookup). With `dryRun`, only
    /// lists what would be replayed.
    public static func replay(_ selection: ReplaySelection, by actor: String, dryRun: Bool, on db: Connection) throws -> [Int64] {
        let statuses = selection.statuses.map(\.rawValue).filter { ["dead", "cancelled", "delivered"].contains($0) }
        let parameters: [any PostgresEncodable] = [
            selection.ids, statuses, selection.portal, selection.kind?.rawValue, selection.errorCode, selection.since, actor,
        ]
        let filter = """
            SELECT i.id, i.status AS previous, i.last_error->>'error' AS error
              FROM outbox.intents i JOIN outbox.portals p ON p.id = i.portal_id
             WHERE ($1::bigint[] IS NULL OR i.id = ANY($1))
               AND i.status = ANY($2::text[])
               AND ($3::text IS NULL OR p.name = $3)
               AND ($4::text IS NULL OR i.kind = $4)
               AND ($5::text IS NULL OR lower(i.last_error->>'error') = lower($5))
               AND ($6::timestamptz IS NULL OR i.updated_at >= $6)
               -- A chat whose entity pair another intent holds is never sent again.
               AND (i.kind <> 'chat.create' OR EXISTS (SELECT 1 FROM outbox.chat_entities c WHERE c.intent_id = i.id))
            """
        if dryRun {
            return try db.query("\(filter) AND $7::text IS NOT NULL ORDER BY i.id", parameters).map { try $0.decode(0) }
        }
        return try db.query("""
            WITH chosen AS (\(filter) FOR UPDATE OF i
            ), replayed AS (
                UPDATE outbox.intents i
                   SET status = 'pending', attempts = 0, lease_expiries = 0, next_attempt_at = now(),
                       delivered_at = NULL, updated_at = now()
                  FROM chosen c WHERE i.id = c.id
                RETURNING i.id, i.portal_id, c.previous, c.error
            ), logged AS (
                INSERT INTO outbox.log (stream, type, intent_id, portal_id, data)
                SELECT 'intent-' || id, 'intent.replayed', id, portal_id,
                       jsonb_build_object('by', $7::text, 'previous_status', previous, 'previous_error', error)
                  FROM replayed
            )
            SELECT id FROM replayed ORDER BY id
            """, parameters).map { try $0.decode(0) }
    }
}
