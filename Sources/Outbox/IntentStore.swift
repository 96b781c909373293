import Bitrix24
import Bitrix24Wire
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
    ///
    /// Two bounds keep one intent from taking a whole claim down with it. The payloads' size as
    /// text stops at `bytes` (the first intent is always taken). And an intent that lost `n`
    /// leases in a row (its worker died holding it) shrinks the claim to `limit / 2^n`: a
    /// poison intent is soon claimed alone, and the intents claimed with it go on in smaller
    /// claims without it.
    public func claim(
        limit: Int, lease: Duration, bytes: Int = WorkerPool.Configuration().claimBytes, portals: [Int64]? = nil,
        on db: Connection
    ) throws -> [ClaimedIntent] {
        // The limit is written into the text and the portal filter is left out when there is
        // none, so nothing the plan depends on is a parameter: after its first runs PostgreSQL
        // keeps one plan for the statement instead of planning every claim again.
        var parameters: [any PostgresEncodable] = [owner, lease.inSeconds, Int64(bytes)]
        var portalFilter = ""
        if let portals {
            parameters.append(portals)
            portalFilter = "AND portal_id = ANY($4::bigint[])"
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
                -- A small stored value cannot hide much; a larger one may be compressed, and
                -- is measured as the text the worker will hold.
                SELECT i.id, i.next_attempt_at, i.lease_expiries,
                       CASE WHEN pg_column_size(i.payload) <= 256 THEN pg_column_size(i.payload)
                            ELSE octet_length(i.payload::text) END AS bytes
                  FROM outbox.intents i
                 WHERE i.portal_id = (SELECT portal_id FROM head) AND i.status = 'pending' AND i.next_attempt_at <= now()
                 ORDER BY i.next_attempt_at, i.id
                 LIMIT \(limit)
                 FOR UPDATE OF i SKIP LOCKED
            ), bounded AS (
                -- A prefix of the picked rows: the byte budget, and the limit halved for each
                -- lease the worst intent so far lost. Rows left out stay pending.
                SELECT id, row_number() OVER w AS n, sum(bytes) OVER w - bytes AS bytes_before,
                       max(lease_expiries) OVER w AS worst
                  FROM picked WINDOW w AS (ORDER BY next_attempt_at, id)
            ), chosen AS (
                SELECT id FROM bounded
                 WHERE n = 1 OR (bytes_before < $3 AND n <= (\(limit) >> least(worst, 30)))
            ), claimed AS (
                UPDATE outbox.intents i
                   SET status = 'claimed', attempts = i.attempts + 1, lease_owner = $1,
                       lease_expires_at = now() + make_interval(secs => $2), updated_at = now()
                  FROM chosen WHERE i.id = chosen.id
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
        var ids: [Int64] = [], statuses: [String] = [], types: [String] = [], delays: [Double?] = []
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
            delays.append(row.delay?.inSeconds)
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
                                         unnest($4::float8[]), unnest($5::bigint[]), unnest($6::int[]),
                                         jsonb_array_elements($7::jsonb))
                    AS t(id, status, type, delay, result_id, refund, data)
            ), changed AS (
                UPDATE outbox.intents i
                   SET status = input.status,
                       attempts = i.attempts - input.refund,
                       -- From the database's clock: a worker host's clock may be off.
                       next_attempt_at = CASE WHEN input.delay IS NULL THEN i.next_attempt_at
                                              ELSE now() + make_interval(secs => input.delay) END,
                       lease_owner = NULL, lease_expires_at = NULL, lease_expiries = 0,
                       result_id = coalesce(input.result_id, i.result_id),
                       delivered_at = CASE WHEN input.status = 'delivered' THEN now() END,
                       last_error = CASE WHEN input.type IN ('delivery.failed', 'intent.dead')
                                         THEN input.data ELSE i.last_error END,
                       updated_at = now()
                  FROM input
                 -- A lease means claimed (intents_lease). Not naming the status keeps the planner
                 -- on the primary key, not scanning every claimed intent through its index.
                 WHERE i.id = input.id AND i.lease_owner = $8 AND i.lease_expires_at IS NOT NULL
                RETURNING i.id, i.portal_id, input.type, input.data,
                          CASE WHEN input.delay IS NOT NULL THEN i.next_attempt_at END AS retry_at
            ), logged AS (
                INSERT INTO outbox.log (stream, type, intent_id, portal_id, data)
                SELECT 'intent-' || id, type, id, portal_id,
                       CASE WHEN retry_at IS NULL THEN data
                            ELSE data || jsonb_build_object('next_attempt_at', retry_at) END
                  FROM changed
            )
            SELECT id FROM changed
            """, [ids, statuses, types, delays, resultIDs, refunds, JSONB(JSONValue.jsonbArrayText(details)), owner])
        let recorded = try rows.map { try $0.decode(0, as: Int64.self) }
        let recordedSet = Set(recorded)
        return (recorded, ids.filter { !recordedSet.contains($0) })
    }

    private static func row(for outcome: DeliveryOutcome)
        -> (status: IntentStatus, type: String, delay: Duration?, resultID: Int64?, refund: Bool, data: JSONValue)
    {
        switch outcome {
        case .delivered(let resultID, let details):
            (.delivered, LogType.deliverySucceeded, nil, resultID, false, details)
        case .retry(let after, let details):
            (.pending, LogType.deliveryFailed, after, nil, false, details)
        case .dead(let details):
            (.dead, LogType.intentDead, nil, nil, false, details)
        case .released(let after, let reason):
            (.pending, LogType.intentReleased, after, nil, true, ["reason": .string(reason)])
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

    /// Returns intents whose lease ran out to pending, logging `intent.lease_expired`, and
    /// counts the loss on each (`lease_expiries`, which shrinks their next claims).
    ///
    /// A chat is due again only `chatSettle` after the lease ended: a call of the lost attempt
    /// may still be running at the portal (Bitrix24 finishes a request up to 60 s after its
    /// client gave up), and a lookup before it ends would miss the chat it creates.
    ///
    /// A lost lease means its worker pool died (or lost the database) while holding it. The
    /// first reap of a pool's leases notes how many intents the pool then held, in all its
    /// threads (`outbox.lost_workers`): an intent that had lost two leases in a row before and
    /// was the only one its pool held is the culprit, and goes dead with
    /// `LEASE_EXPIRED_REPEATEDLY`. (A process killed from outside looks the same; three losses
    /// in a row, the last alone, make that unlikely.)
    @discardableResult
    public static func reapExpiredLeases(
        limit: Int = 1000, chatSettle: Duration = WorkerPool.Configuration().chatSettle,
        lease: Duration = WorkerPool.Configuration().lease, on db: Connection
    ) throws -> Int {
        let reaped = try db.query("""
            WITH expired AS (
                SELECT id, lease_owner, lease_expires_at, lease_expiries,
                       -- The pool: the owner without its worker number.
                       regexp_replace(lease_owner, '/[^/]*$', '') AS pool
                  FROM outbox.intents
                 WHERE status = 'claimed' AND lease_expires_at < now()
                 ORDER BY lease_expires_at LIMIT $1
                 FOR UPDATE SKIP LOCKED
            ), noted AS (
                -- What the pool held when its first lease was reaped: every later lease of it
                -- expires later, so all are still claimed now.
                INSERT INTO outbox.lost_workers (pool, lost_at, held)
                SELECT p.pool, now(), (SELECT count(*) FROM outbox.intents o
                                        WHERE o.status = 'claimed'
                                          AND (o.lease_owner = p.pool OR left(o.lease_owner, length(p.pool) + 1) = p.pool || '/'))
                  FROM (SELECT DISTINCT pool FROM expired) p
                -- A pool seen losing leases more than a lease ago (alive, then cut off again) is
                -- counted afresh; within a lease, the first count stands.
                ON CONFLICT (pool) DO UPDATE
                   SET held = CASE WHEN lost_workers.lost_at < now() - make_interval(secs => $3)
                                   THEN excluded.held ELSE lost_workers.held END,
                       lost_at = CASE WHEN lost_workers.lost_at < now() - make_interval(secs => $3)
                                      THEN excluded.lost_at ELSE lost_workers.lost_at END
                RETURNING pool, held
            ), judged AS (
                SELECT e.*, e.lease_expiries >= 2 AND (SELECT n.held FROM noted n WHERE n.pool = e.pool) = 1 AS poison
                  FROM expired e
            ), reset AS (
                UPDATE outbox.intents i
                   SET status = CASE WHEN j.poison THEN 'dead' ELSE 'pending' END,
                       next_attempt_at = CASE WHEN i.kind = 'chat.create'
                                              THEN greatest(now(), j.lease_expires_at + make_interval(secs => $2))
                                              ELSE now() END,
                       lease_expiries = i.lease_expiries + 1,
                       last_error = CASE WHEN j.poison THEN jsonb_build_object(
                           'error', 'LEASE_EXPIRED_REPEATEDLY', 'class', 'poison',
                           'error_description', format('its worker stopped while holding it, %s leases in a row, the last time holding no other intent', i.lease_expiries + 1),
                           'previous_worker', j.lease_owner, 'lease_expires_at', j.lease_expires_at,
                           'attempt', i.attempts, 'lease_expiries', i.lease_expiries + 1)
                           ELSE i.last_error END,
                       updated_at = now(), lease_owner = NULL, lease_expires_at = NULL
                  FROM judged j
                 WHERE i.id = j.id
                RETURNING i.id, i.portal_id, i.attempts, i.status, i.lease_expiries, i.next_attempt_at, i.last_error,
                          j.lease_owner AS owner, j.lease_expires_at AS expired_at
            )
            INSERT INTO outbox.log (stream, type, intent_id, portal_id, data)
            SELECT 'intent-' || id, CASE WHEN status = 'dead' THEN 'intent.dead' ELSE 'intent.lease_expired' END, id, portal_id,
                   CASE WHEN status = 'dead' THEN last_error
                        ELSE jsonb_build_object('previous_worker', owner, 'lease_expires_at', expired_at, 'attempt', attempts,
                                                'lease_expiries', lease_expiries, 'next_attempt_at', next_attempt_at) END
              FROM reset
            """, [limit, chatSettle.inSeconds, lease.inSeconds]).affectedRows
        if reaped > 0 {
            // A pool's leases all run out within a lease of its death: a day is plenty.
            try db.execute("DELETE FROM outbox.lost_workers WHERE lost_at < now() - interval '1 day'")
        }
        return reaped
    }
}

