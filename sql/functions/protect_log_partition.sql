-- Gives one partition the TRUNCATE refusal, and makes sure its clone of the row trigger fires
-- ALWAYS (even under session_replication_role = replica), as the parent's does.
CREATE OR REPLACE FUNCTION outbox.protect_log_partition(p_partition regclass)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    EXECUTE format('CREATE TRIGGER log_no_truncate BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION outbox.refuse_log_change()', p_partition);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER log_no_truncate', p_partition);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER log_no_update_delete', p_partition);
END;
$function$;

REVOKE ALL ON FUNCTION outbox.protect_log_partition(regclass) FROM PUBLIC;
