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

    /// Claims up to `limit` due intents of one portal (the one whose turn it is, taking one
    /// request of its bucket), skipping rows other workers hold, under a lease of `lease`. With
    /// `portals`, only those portal ids are served.
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
        try claimTurn(limit: limit, perCall: limit, lease: lease, bytes: bytes, portals: portals, on: db).intents
    }

    /// What a claim took: the intents, the portal whose turn it was, and the requests its bucket
    /// granted for them; or, with no portal, how long until a turn is due.
    public struct Claim: Sendable {
        public var intents: [ClaimedIntent]
        /// The portal whose turn it was; nil when no portal could send.
        public var portalID: Int64?
        /// Requests taken from the portal's bucket for these intents (`perCall` each at most);
        /// those they did not need have gone back already.
        public var calls: Int
        /// With no portal: when the first turn is due (zero: look again now; nil: none waits).
        public var wait: Duration?
    }

    /// The claim: the portal whose turn it is, if it can send now, and up to `limit` of its due
    /// intents, `perCall` per request its bucket grants (`claim_intents.sql`, `take_turn.sql`).
    public func claimTurn(
        limit: Int, perCall: Int, lease: Duration, bytes: Int = WorkerPool.Configuration().claimBytes,
        portals: [Int64]? = nil, on db: Connection
    ) throws -> Claim {
        let perCall = max(1, min(perCall, limit))
        // Wake-ups first, committed on their own: the turns the fold touches stay locked only
        // for it, not for the claim.
        try db.execute("SELECT outbox.fold_wakeups()")
        // One transaction: the turn is held until the claim commits, so the next claim of this
        // portal sees what this one claimed (one recipient and TAG in flight at a time).
        return try db.transaction { db in
            let turn = try db.queryPrepared("SELECT portal_id, calls, wait FROM outbox.take_turn($1::bigint[], $2::integer)",
                                            [portals, Int32(clamping: (limit + perCall - 1) / perCall)]).first!
            var claim = Claim(intents: [], portalID: try turn.decode(0), calls: Int(try turn.decode(1, as: Int32.self)), wait: nil)
            guard let portalID = claim.portalID else {
                claim.wait = try turn.decode(2, as: Double?.self).map { .milliseconds(Int64(($0 * 1000).rounded(.up))) }
                return claim
            }
            let rows = try db.queryPrepared(
                Self.claimText(limit: min(limit, claim.calls * perCall)), [owner, lease.inSeconds, Int64(bytes), portalID])
            claim.intents = try rows.map { row in
                ClaimedIntent(
                    id: try row.decode(0), portalID: portalID,
                    kind: IntentKind(rawValue: try row.decode(1))!,
                    payload: try JSONValue(jsonText: try row.decode(2, as: String.self)).objectValue ?? [:],
                    key: try row.decode(3), attempt: try row.decode(4),
                    leaseExpiresAt: Date(timeIntervalSince1970: try row.decode(5)),
                    enqueuedAt: Date(timeIntervalSince1970: try row.decode(6)))
            }
            let needed = (claim.intents.count + perCall - 1) / perCall
            if needed < claim.calls {
                try db.execute("SELECT outbox.settle_turn($1, $2::integer, $3::integer)",
                               [portalID, Int32(claim.calls - needed), Int32(claim.intents.count)])
                claim.calls = needed
            }
            return claim
        }
    }

    /// `claim_intents.sql` with its limit written in: one prepared statement per limit a claim
    /// can have (the requests granted times `perCall`), each planned once.
    static func claimText(limit: Int) -> String {
        EmbeddedSQL.claimIntents.replacingOccurrences(of: "{limit}", with: String(limit))
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
        let rows = try db.queryPrepared(EmbeddedSQL.recordOutcomes, [ids, statuses, types, delays, resultIDs, refunds, JSONB(JSONValue.jsonbArrayText(details)), owner])
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
        let reaped = try db.query(EmbeddedSQL.reapExpiredLeases, [limit, chatSettle.inSeconds, lease.inSeconds]).affectedRows
        if reaped > 0 {
            // A pool's leases all run out within a lease of its death: a day is plenty.
            try db.execute("DELETE FROM outbox.lost_workers WHERE lost_at < now() - interval '1 day'")
        }
        return reaped
    }
}

