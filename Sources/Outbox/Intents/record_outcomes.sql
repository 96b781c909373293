-- Records outcomes of intents the owner $8 holds (IntentStore.record): per intent (arrays $1..$7,
-- one element each) its new status, log entry type, retry delay, Bitrix24 id, attempt refund and
-- entry data. An intent whose lease the owner lost is left alone.
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
