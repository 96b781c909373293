-- Maintenance's safety net for the turns: an active portal with pending intents and neither a
-- turn nor a wake-up gets a wake-up (none should exist; a hand-made row could make one). It
-- also folds wake-ups while no worker claims, so they do not pile up. Returns the portals woken.
CREATE OR REPLACE FUNCTION outbox.wake_stranded_portals()
 RETURNS integer
 LANGUAGE sql
AS $function$
    SELECT outbox.fold_wakeups();
    WITH woken AS (
        INSERT INTO outbox.portal_wakeups (portal_id, due_at)
        SELECT p.id, (SELECT min(i.next_attempt_at) FROM outbox.intents i WHERE i.portal_id = p.id AND i.status = 'pending')
          FROM outbox.portals p
         WHERE p.state = 'active'
           AND NOT EXISTS (SELECT 1 FROM outbox.portal_turns t WHERE t.portal_id = p.id)
           AND EXISTS (SELECT 1 FROM outbox.intents i WHERE i.portal_id = p.id AND i.status = 'pending')
        RETURNING 1
    )
    SELECT count(*)::integer FROM woken;
$function$;

REVOKE ALL ON FUNCTION outbox.wake_stranded_portals() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.wake_stranded_portals() TO b24outbox_worker;
