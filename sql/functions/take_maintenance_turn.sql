-- Takes the turn of maintenance task p_task for p_holder, or renews it, for p_lease from now
-- (the database's clock, whoever calls): true when p_holder holds it now. A turn held by another
-- and not yet expired is left alone. A lease outside 1 s to 5 min is refused: no caller may hold
-- a turn for longer than a host cut from the network should keep it.
CREATE OR REPLACE FUNCTION outbox.take_maintenance_turn(p_task text, p_holder text, p_lease interval)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    IF p_lease IS NULL OR p_lease < interval '1 second' OR p_lease > interval '5 minutes' THEN
        RAISE EXCEPTION 'a maintenance turn lasts 1 s to 5 min, not %', p_lease
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO outbox.maintenance_turn AS t (task, holder, until)
    VALUES (p_task, p_holder, now() + p_lease)
    ON CONFLICT (task) DO UPDATE
       SET holder = EXCLUDED.holder, until = EXCLUDED.until,
           taken_at = CASE WHEN t.holder = EXCLUDED.holder THEN t.taken_at ELSE now() END
     WHERE t.holder = EXCLUDED.holder OR t.until < now();
    RETURN FOUND;
END;
$function$;

REVOKE ALL ON FUNCTION outbox.take_maintenance_turn(text,text,interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.take_maintenance_turn(text,text,interval) TO b24outbox_worker;
