-- The claim's second step (IntentStore.claimTurn), after outbox.take_turn gave portal $4 its
-- turn: up to {limit} of its due intents in claim order (the requests its bucket granted, times
-- the commands per request), within the byte budget $3, leased to $1 for $2 seconds, each with
-- its intent.claimed entry. Intents another claim of the same portal holds are skipped. The
-- limit is written into the text, as a parameter PostgreSQL would plan every claim anew for it.
-- Notifications of one recipient and TAG stay in order (see `superseded` and sql/023).
WITH picked AS (
    -- The portal as a scalar, so the scan of (portal_id, next_attempt_at, id) comes out
    -- in claim order and stops at the limit, whatever the row estimates say.
    -- A small stored value cannot hide much; a larger one may be compressed, and
    -- is measured as the text the worker will hold.
    SELECT i.id, i.next_attempt_at, i.lease_expiries,
           CASE WHEN pg_column_size(i.payload) <= 256 THEN pg_column_size(i.payload)
                ELSE octet_length(i.payload::text) END AS bytes,
           CASE WHEN i.kind IN ('notify.personal', 'notify.system') THEN i.payload->>'USER_ID' END AS user_id,
           i.payload->>'TAG' AS tag
      FROM outbox.intents i
     WHERE i.portal_id = $4 AND i.status = 'pending' AND i.next_attempt_at <= now()
       -- One (recipient, TAG) in flight at a time (sql/023_tag_order.sql): an intent waits
       -- while another with its recipient and TAG is claimed, so neither overtakes the other.
       AND NOT (i.kind IN ('notify.personal', 'notify.system') AND EXISTS (
           SELECT 1 FROM outbox.intents o
            WHERE o.portal_id = $4 AND o.status = 'claimed' AND o.kind IN ('notify.personal', 'notify.system')
              AND o.payload->>'USER_ID' = i.payload->>'USER_ID' AND o.payload->>'TAG' = i.payload->>'TAG'))
     ORDER BY i.next_attempt_at, i.id
     LIMIT {limit}
     FOR UPDATE OF i SKIP LOCKED
), bounded AS (
    -- A prefix of the picked rows: the byte budget, and the limit halved for each
    -- lease the worst intent so far lost. Rows left out stay pending.
    SELECT id, user_id, tag, row_number() OVER w AS n, sum(bytes) OVER w - bytes AS bytes_before,
           max(lease_expiries) OVER w AS worst,
           -- 1 for the newest picked notification of each recipient and TAG.
           row_number() OVER (PARTITION BY user_id, tag ORDER BY id DESC) AS newest
      FROM picked WINDOW w AS (ORDER BY next_attempt_at, id)
), chosen AS (
    SELECT id, user_id, tag FROM bounded
     WHERE (n = 1 OR (bytes_before < $3 AND n <= ({limit} >> least(worst, 30))))
       AND (user_id IS NULL OR newest = 1)
), superseded AS (
    -- The older notifications of a claimed one's recipient and TAG that still wait (picked
    -- beside it, a retry's backoff, a later not-before): the claimed one replaces them on
    -- screen, so sending them after it would bring the old text back. They are cancelled
    -- instead; one another statement holds (an operator's cancel or replay) is left to it.
    UPDATE outbox.intents o
       SET status = 'cancelled', updated_at = now()
      FROM (SELECT s.id, c.by
              FROM (SELECT user_id, tag, max(id) AS by FROM chosen WHERE user_id IS NOT NULL GROUP BY user_id, tag) c
              JOIN outbox.intents s
                ON s.portal_id = $4 AND s.status = 'pending' AND s.kind IN ('notify.personal', 'notify.system')
               AND s.payload->>'USER_ID' = c.user_id AND s.payload->>'TAG' = c.tag AND s.id < c.by
               FOR UPDATE OF s SKIP LOCKED) old
     WHERE o.id = old.id
    RETURNING o.id, o.portal_id, old.by
), superseded_logged AS (
    INSERT INTO outbox.log (stream, type, intent_id, portal_id, data)
    SELECT 'intent-' || id, 'intent.superseded', id, portal_id, jsonb_build_object('by', by)
      FROM superseded
), claimed AS (
    UPDATE outbox.intents i
       SET status = 'claimed', attempts = i.attempts + 1, lease_owner = $1,
           lease_expires_at = now() + make_interval(secs => $2), updated_at = now()
     -- By key, as an array: the planner cannot tell how many the turn's requests let
     -- through, and would rather read the whole table than guess small.
     WHERE i.id = ANY (ARRAY(SELECT id FROM chosen))
    RETURNING i.id, i.portal_id, i.kind, i.payload, i.idempotency_key, i.attempts, i.lease_expires_at, i.created_at
), logged AS (
    INSERT INTO outbox.log (stream, type, intent_id, portal_id, data)
    SELECT 'intent-' || id, 'intent.claimed', id, portal_id,
           jsonb_build_object('worker', $1::text, 'attempt', attempts, 'lease_expires_at', lease_expires_at)
      FROM claimed
)
-- Times as epoch seconds: cheaper to read than timestamp text, exact to the microsecond.
SELECT id, kind, payload::text, idempotency_key, attempts,
       extract(epoch FROM lease_expires_at)::float8, extract(epoch FROM created_at)::float8
  FROM claimed ORDER BY id
