-- Folds up to p_limit wake-ups into portals' turns: a portal gets a turn, or its turn comes due
-- no later than its new work. Two claims fold different wake-ups (SKIP LOCKED), and lock turns
-- in portal order, so they cannot deadlock on them. A wake-up of a portal removed since is
-- dropped. Returns the wake-ups taken.
CREATE OR REPLACE FUNCTION outbox.fold_wakeups(p_limit integer DEFAULT 10000)
 RETURNS integer
 LANGUAGE sql
AS $function$
    WITH taken AS (
        DELETE FROM outbox.portal_wakeups
         WHERE ctid = ANY (ARRAY(SELECT ctid FROM outbox.portal_wakeups LIMIT p_limit FOR UPDATE SKIP LOCKED))
        RETURNING portal_id, due_at
    ), folded AS (
        INSERT INTO outbox.portal_turns AS t (portal_id, due_at)
        SELECT w.portal_id, min(w.due_at) FROM taken w
         WHERE EXISTS (SELECT 1 FROM outbox.portals p WHERE p.id = w.portal_id)
         GROUP BY w.portal_id ORDER BY w.portal_id
        ON CONFLICT (portal_id) DO UPDATE SET due_at = least(t.due_at, excluded.due_at)
    )
    SELECT count(*)::integer FROM taken;
$function$;

REVOKE ALL ON FUNCTION outbox.fold_wakeups(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.fold_wakeups(integer) TO b24outbox_worker;
