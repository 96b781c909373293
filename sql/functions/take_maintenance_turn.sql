-- Takes the maintenance turn for p_holder, or renews it, for p_lease from now (the database's
-- clock, whoever calls): true when p_holder holds it now. A turn held by another and not yet
-- expired is left alone.
CREATE OR REPLACE FUNCTION outbox.take_maintenance_turn(p_holder text, p_lease interval)
 RETURNS boolean
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    WITH taken AS (
        INSERT INTO outbox.maintenance_turn AS t (singleton, holder, until)
        VALUES (true, p_holder, now() + p_lease)
        ON CONFLICT (singleton) DO UPDATE
           SET holder = EXCLUDED.holder, until = EXCLUDED.until,
               taken_at = CASE WHEN t.holder = EXCLUDED.holder THEN t.taken_at ELSE now() END
         WHERE t.holder = EXCLUDED.holder OR t.until < now()
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM taken);
$function$;

REVOKE ALL ON FUNCTION outbox.take_maintenance_turn(text,interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.take_maintenance_turn(text,interval) TO b24outbox_worker;
