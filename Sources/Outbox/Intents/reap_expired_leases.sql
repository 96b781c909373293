-- Maintenance's reaping (IntentStore.reapExpiredLeases): up to $1 claimed intents whose lease
-- ended go back to pending (a chat only $2 seconds after its lease ended), each with its
-- intent.lease_expired entry; one that lost its lease alone too often goes dead. $3: the lease.
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
