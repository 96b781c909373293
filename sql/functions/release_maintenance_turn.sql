-- Gives up every maintenance turn p_holder holds, so other processes take them at their next try
-- instead of after the lease (a process stopping in order).
CREATE OR REPLACE FUNCTION outbox.release_maintenance_turn(p_holder text)
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    DELETE FROM outbox.maintenance_turn WHERE holder = p_holder;
$function$;

REVOKE ALL ON FUNCTION outbox.release_maintenance_turn(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.release_maintenance_turn(text) TO b24outbox_worker;
