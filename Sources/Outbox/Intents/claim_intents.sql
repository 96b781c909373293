-- The claim (IntentStore.claim): the oldest due intent's portal (active, and not paused for
-- its rate), then up to {limit} of that portal's due intents in claim order, within the byte
-- budget $3, leased to $1 for $2 seconds, each with its intent.claimed entry. {limit} and
-- {portal_filter} (empty, or a filter on the portal ids $4) are written into the text, so no
-- value the plan depends on is a parameter.
WITH head AS (
    SELECT portal_id FROM outbox.intents
     WHERE status = 'pending' AND next_attempt_at <= now() {portal_filter}
       -- A per-row subquery, not NOT EXISTS: as an anti-join, with few portals, the
       -- planner estimates one row left, and sorts every due intent to find the oldest.
       AND NOT coalesce((SELECT r.paused_until > now() FROM outbox.portal_rate r
                          WHERE r.portal_id = intents.portal_id), false)
       -- A portal an operator paused keeps its intents pending (sql/021_portal_state.sql).
       AND (SELECT p.state = 'active' FROM outbox.portals p WHERE p.id = intents.portal_id)
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
     LIMIT {limit}
     FOR UPDATE OF i SKIP LOCKED
), bounded AS (
    -- A prefix of the picked rows: the byte budget, and the limit halved for each
    -- lease the worst intent so far lost. Rows left out stay pending.
    SELECT id, row_number() OVER w AS n, sum(bytes) OVER w - bytes AS bytes_before,
           max(lease_expiries) OVER w AS worst
      FROM picked WINDOW w AS (ORDER BY next_attempt_at, id)
), chosen AS (
    SELECT id FROM bounded
     WHERE n = 1 OR (bytes_before < $3 AND n <= ({limit} >> least(worst, 30)))
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
