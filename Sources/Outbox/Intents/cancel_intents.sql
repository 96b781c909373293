-- Cancels the pending or dead intents among $1 (IntentStore.cancel), each with its
-- intent.cancelled entry; returns the ids cancelled.
WITH cancelled AS (
    UPDATE outbox.intents i SET status = 'cancelled', updated_at = now()
      FROM (SELECT id, status AS previous FROM outbox.intents
             WHERE id = ANY($1) AND status IN ('pending', 'dead') FOR UPDATE) p
     WHERE i.id = p.id
    RETURNING i.id, i.portal_id, p.previous
), logged AS (
    INSERT INTO outbox.log (stream, type, intent_id, portal_id, data)
    SELECT 'intent-' || id, 'intent.cancelled', id, portal_id,
           jsonb_build_object('by', $2::text, 'previous_status', previous)
      FROM cancelled
)
SELECT id FROM cancelled ORDER BY id
