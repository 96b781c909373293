-- Attaches an empty month partition (UTC months, whatever the session's time zone). ATTACH
-- needs only SHARE UPDATE EXCLUSIVE on the parent and a brief lock on the empty default
-- partition, so appends go on while a month is added (CREATE TABLE … PARTITION OF would take
-- ACCESS EXCLUSIVE on the parent and queue every insert behind any long reader).
CREATE OR REPLACE FUNCTION outbox.add_log_partition(p_month date)
 RETURNS regclass
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET "TimeZone" TO 'UTC'
AS $function$
DECLARE
    v_from timestamptz := date_trunc('month', p_month::timestamp) AT TIME ZONE 'UTC';
    v_to timestamptz := (date_trunc('month', p_month::timestamp) + interval '1 month') AT TIME ZONE 'UTC';
    v_name text := 'log_' || to_char(p_month, 'YYYY_MM');
    v_partition regclass;
BEGIN
    EXECUTE format('CREATE TABLE outbox.%I (LIKE outbox.log INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', v_name);
    v_partition := format('outbox.%I', v_name)::regclass;
    EXECUTE format('ALTER TABLE outbox.log ATTACH PARTITION %s FOR VALUES FROM (%L) TO (%L)',
                   v_partition, v_from, v_to);
    PERFORM outbox.protect_log_partition(v_partition);
    RETURN v_partition;
END;
$function$;

REVOKE ALL ON FUNCTION outbox.add_log_partition(date) FROM PUBLIC;
