import Bitrix24
import Foundation
import Postgres

/// The intents projection and its log, changed together: every statement here updates
/// intents and appends the log entries that explain the change, atomically.
public struct IntentStore: Sendable {
    /// Who holds leases taken through this store (written to the log as `worker`).
    public var owner: String

    public init(owner: String) {
        self.owner = owner
    }

    /// Claims up to `limit` due intents of one portal (the one with the oldest due intent),
    /// skipping rows other workers hold, under a lease of `lease`. With `portals`, only intents
    /// of those portal ids are considered.
    public func claim(limit: Int, lease: Duration, portals: [Int64]? = nil, on db: Connection) throws -> [ClaimedIntent] {
        // The limit is written into the text and the portal filter is left out when there is
        // none, so nothing the plan depends on is a parameter: after its first runs PostgreSQL
        // keeps one plan for the statement instead of planning every claim again.
        var parameters: [any PostgresEncodable] = [owner, lease.inSeconds]
        var portalFilter = ""
        if let portals {
            parameters.append(portals)
            portalFilter = "AND portal_id = ANY($3::bigint[])"
        }
        let rows = try db.queryPrepared("""
            WITH head AS (
                SELECT portal_id FROM outbox.intents
                 WHERE status = 'pending' AND next_attempt_at <= now() \(portalFilter)
                   -- A per-row subquery, not NOT EXISTS: as an anti-join, with few portals, the
                   -- planner estimates one row left, and sorts every due intent to find the oldest.
                   AND NOT coalesce((SELECT r.paused_until > now() FROM outbox.portal_rate r
                                      WHERE r.portal_id = intents.portal_id), false)
                 ORDER BY next_attempt_at, id
                 LIMIT 1
                 FOR UPDATE SKIP LOCKED
            ), picked AS (
                -- The portal as a scalar, so the scan of (portal_id, next_attempt_at, id) comes out
                -- in claim order and stops at the limit, whatever the row estimates say.
                SELECT i.id FROM outbox.intents i
                 WHERE i.portal_id = (SELECT portal_id FROM head) AND i.status = 'pending' AND i.next_attempt_at <= now()
                 ORDER BY i.next_attempt_at, i.id
                 LIMIT \(limit)
                 FOR UPDATE OF i SKIP LOCKED
            ), claimed AS (
                UPDATE outbox.intents i
                   SET status = 'claimed', attempts = i.attempts + 1, lease_owner = $1,
                       lease_expires_at = now() + make_interval(secs => $2), updated_at = now()
                  FROM picked WHERE i.id = picked.id
                RETURNING i.id, i.portal_id, i.kind, i.payload, i.idempotency_key, i.attempts, i.lease_expires_at, i.created_at
            ), logged AS (
                INSERT INTO outbox.log (stream, type, intent_id, portal_id, data)
                SELECT 'intent-' || id, 'intent.claimed', id, portal_id,
                       jsonb_build_object('worker', $1::text, 'attempt', attempts, 'lease_expires_at', lease_expires_at)
                  FROM claimed
            )
            -- Times as epoch seconds: cheaper to read than timestamp text, exact to the microsecond.
            SELECT id, portal_id, kind, payload::text, idempotency_key, attempts,
                   extract(epoch FROM lease_expires_at)::float8, extract(epoch FROM created_at)::float8
              FROM claimed ORDER BY id
            """, parameters)
        return try rows.map { row in
            ClaimedIntent(
                id: try row.decode(0), portalID: try row.decode(1),
                kind: IntentKind(rawValue: try row.decode(2))!,
                payload: try JSONValue(jsonText: try row.decode(3, as: String.self)).objectValue ?? [:],
                key: try row.decode(4), attempt: try row.decode(5),
                leaseExpiresAt: Date(timeIntervalSince1970: try row.decode(6)),
                enqueuedAt: Date(timeIntervalSince1970: try row.decode(7)))
        }
    }

    /// Records outcomes of intents this owner holds. An intent whose lease this owner lost (it
    /// expired and someone reclaimed it) is left alone and comes back among the `lost`.
    @discardableResult
    public func finish(
        _ outcomes: [(intent: ClaimedIntent, outcome: DeliveryOutcome)], on db: Connection
    ) throws -> (recorded: [Int64], lost: [Int64]) {
        guard !outcomes.isEmpty else { return ([], []) }
        var ids: [Int64] = [], statuses: [String] = [], types: [String] = [], retryAt: [Date?] = []
        var resultIDs: [Int64?] = [], refunds: [Int32] = []
        // The details go as one JSON array, not a jsonb[]: inside an array literal every quote
        // of every document would be escaped here and unescaped by PostgreSQL again.
        var details: [(base: JSONValue, added: [(String, JSONValue)])] = []
        details.reserveCapacity(outcomes.count)
        for (intent, outcome) in outcomes {
            let row = Self.row(for: outcome)
            ids.append(intent.id)
            statuses.append(row.status.rawValue)
            types.append(row.type)
            retryAt.append(row.retryAt)
            resultIDs.append(row.resultID)
            refunds.append(row.refund ? 1 : 0)
            // Who recorded it and which attempt it was, and a delivery's result id, written in.
            var added: [(String, JSONValue)] = [("worker", .string(owner)), ("attempt", .int(Int64(intent.attempt)))]
            if let resultID = row.resultID { added.append(("result_id", .int(resultID))) }
            details.append((row.data, added))
        }
        let rows = try db.queryPrepared("""
            WITH input AS (
                SELECT * FROM ROWS FROM (unnest($1::bigint[]), unnest($2::text[]), unnest($3::text[]),
                                         unnest($4::timestamptz[]), unnest($5::bigint[]), unnest($6::int[]),
                                         jsonb_array_elements($7::jsonb))
                    AS t(id, status, type, retry_at, result_id, refund, data)
            ), changed AS (
                UPDATE outbox.intents i
                   SET status = input.status,
                       attempts = i.attempts - input.refund,
                       next_attempt_at = coalesce(input.retry_at, i.next_attempt_at),
                       lease_owner = NULL, lease_expires_at = NULL,
                       result_id = coalesce(input.result_id, i.result_id),
                       delivered_at = CASE WHEN input.status = 'delivered' THEN now() END,
                       last_error = CASE WHEN input.type IN ('delivery.failed', 'intent.dead')
                                         THEN input.data ELSE i.last_error END,
                       updated_at = now()
                  FROM input
                 -- A lease means claimed (intents_lease). Not naming the status keeps the planner
                 -- on the primary key, not scanning every claimed intent through its index.
                 WHERE i.id = input.id AND i.lease_owner = $8 AND i.lease_expires_at IS NOT NULL
                RETURNING i.id, i.portal_id, input.type, input.data, input.retry_at
            ), logged AS (
                INSERT INTO outbox.log (stream, type, intent_id, portal_id, data)
                SELECT 'intent-' || id, type, id, portal_id,
                       CASE WHEN retry_at IS NULL THEN data
                            ELSE data || jsonb_build_object('next_attempt_at', retry_at) END
                  FROM changed
            )
            SELECT id FROM changed
            """, [ids, statuses, types, retryAt, resultIDs, refunds, JSONB(JSONValue.jsonbArrayText(details)), owner])
        let recorded = try rows.map { try $0.decode(0, as: Int64.self) }
        let recordedSet = Set(recorded)
        return (recorded, ids.filter { !recordedSet.contains($0) })
    }

    private static func row(for outcome: DeliveryOutcome)
        -> (status: IntentStatus, type: String, retryAt: Date?, resultID: Int64?, refund: Bool, data: JSONValue)
    {
        switch outcome {
        case .delivered(let resultID, let details):
            (.delivered, LogType.deliverySucceeded, nil, resultID, false, details)
        case .retry(let at, let details):
            (.pending, LogType.deliveryFailed, at, nil, false, details)
        case .dead(let details):
            (.dead, LogType.intentDead, nil, nil, false, details)
        case .released(let at, let reason):
            (.pending, LogType.intentReleased, at, nil, true, ["reason": .string(reason)])
        }
    }

    /// Whether nothing is left that could still be delivered: no intent pending (due or not)
    /// and none claimed, of `portals` when given, else of every portal.
    public static func nothingLeft(portals: [Int64]? = nil, on db: Connection) throws -> Bool {
        // Each status is asked for its first intent in index order, so each read stays in its
        // small partial index. As NOT EXISTS, statistics taken while intents were pending led to
        // a scan of the table. With a list, each portal's first pending intent is looked up in
        // the per-portal index, not by walking other portals' backlog.
        let pending = portals == nil
            ? """
              (SELECT id FROM outbox.intents WHERE status = 'pending' ORDER BY next_attempt_at, id LIMIT 1) IS NULL
              """
            : """
              NOT EXISTS (SELECT 1 FROM unnest($1::bigint[]) AS p(id)
                           CROSS JOIN LATERAL (SELECT 1 FROM outbox.intents i
                                                WHERE i.status = 'pending' AND i.portal_id = p.id
                                                ORDER BY i.next_attempt_at, i.id LIMIT 1) AS first)
              """
        return try db.query("""
            SELECT \(pending)
               AND (SELECT id FROM outbox.intents WHERE status = 'claimed'
                       AND ($1::bigint[] IS NULL OR portal_id = ANY($1))
                     ORDER BY lease_expires_at LIMIT 1) IS NULL
            """, [portals]).first!.decode(0)
    }

    /// Returns intents whose lease ran out to pending, logging `intent.lease_expired`. The next
    /// attempt of a chat looks it up first, so a lost answer never makes a second chat.
    @discardableResult
    public static func reapExpiredLeases(limit: Int = 1000, on db: Connection) throws -> Int {
        try db.query("""
            WITH expired AS (
                SELECT id, lease_owner, lease_expires_at FROM outbox.intents
                 WHERE status = 'claimed' AND lease_expires_at < now()
                 ORDER BY lease_expires_at LIMIT $1
                 FOR UPDATE SKIP LOCKED
            ), reset AS (
                UPDATE outbox.intents i
                   SET status = 'pending', next_attempt_at = now(), updated_at = now(),
                       lease_owner = NULL, lease_expires_at = NULL
                  FROM expired e
                 WHERE i.id = e.id
                RETURNING i.id, i.portal_id, i.attempts, e.lease_owner AS owner, e.lease_expires_at AS expired_at
            )
            INSERT INTO outbox.log (stream, type, intent_id, portal_id, data)
            SELECT 'intent-' || id, 'intent.lease_expired', id, portal_id,
                   jsonb_build_object('previous_worker', owner, 'lease_expires_at', expired_at, 'attempt', attempts)
              FROM reset
            """, [limit]).affectedRows
    }
}

