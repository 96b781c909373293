-- Moving a row's count into slot 0 is right whenever it happens; ended backends are chosen
-- only so that a fold never waits on a row a live transaction holds.
CREATE OR REPLACE FUNCTION outbox.intent_totals()
 RETURNS TABLE(status text, n bigint)
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    WITH ended AS (
        DELETE FROM outbox.intent_counts c
         WHERE c.slot <> 0 AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = c.slot)
        RETURNING c.status, c.n
    )
    INSERT INTO outbox.intent_counts AS c (slot, status, n)
    SELECT 0, e.status, sum(e.n) FROM ended e GROUP BY e.status ORDER BY e.status
    ON CONFLICT (slot, status) DO UPDATE SET n = c.n + excluded.n;
    SELECT c.status, sum(c.n)::bigint FROM outbox.intent_counts c GROUP BY c.status
    UNION ALL SELECT 'pending', count(*) FROM outbox.intents i WHERE i.status = 'pending'
    UNION ALL SELECT 'claimed', count(*) FROM outbox.intents i WHERE i.status = 'claimed'
    UNION ALL SELECT 'dead', count(*) FROM outbox.intents i WHERE i.status = 'dead';
$function$;

REVOKE ALL ON FUNCTION outbox.intent_totals() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.intent_totals() TO b24outbox_worker;
