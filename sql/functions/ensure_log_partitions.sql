-- Creates the partitions of the current month and `p_months_ahead` months after it, and of
-- every month whose rows landed in the default partition: those rows move to their month
-- with seq, recorded_at and data unchanged (the default is detached, emptied into the
-- parent, and dropped in this transaction). Returns the partitions created. Idempotent, and
-- safe to call concurrently; runs as the log's owner so that the worker role may call it.
CREATE OR REPLACE FUNCTION outbox.ensure_log_partitions(p_months_ahead integer DEFAULT 3)
 RETURNS SETOF text
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET "TimeZone" TO 'UTC'
 SET lock_timeout TO '500ms'
AS $function$
DECLARE
    v_now date := (now() AT TIME ZONE 'UTC')::date;
    v_month date;
    v_stray date[];
BEGIN
    IF p_months_ahead IS NULL OR p_months_ahead NOT BETWEEN 0 AND 120 THEN
        RAISE EXCEPTION 'months ahead must be between 0 and 120, got %', coalesce(p_months_ahead::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One caller at a time ("b24log" in ASCII); the others then find everything in place.
    PERFORM pg_advisory_xact_lock(107967767408487);

    SELECT array_agg(DISTINCT date_trunc('month', recorded_at AT TIME ZONE 'UTC')::date)
      INTO v_stray FROM outbox.log_default;
    IF v_stray IS NOT NULL THEN
        ALTER TABLE outbox.log DETACH PARTITION outbox.log_default;
        ALTER TABLE outbox.log_default RENAME TO log_default_moving;
        CREATE TABLE outbox.log_default PARTITION OF outbox.log DEFAULT;
        PERFORM outbox.protect_log_partition('outbox.log_default');
    END IF;

    FOR v_month IN
        SELECT m::date FROM generate_series(date_trunc('month', v_now::timestamp),
                                            date_trunc('month', v_now::timestamp) + make_interval(months => p_months_ahead),
                                            interval '1 month') m
        UNION
        SELECT unnest(v_stray)
        ORDER BY 1
    LOOP
        IF to_regclass(format('outbox.%I', 'log_' || to_char(v_month, 'YYYY_MM'))) IS NULL THEN
            RETURN NEXT outbox.add_log_partition(v_month)::text;
        END IF;
    END LOOP;

    IF v_stray IS NOT NULL THEN
        INSERT INTO outbox.log OVERRIDING SYSTEM VALUE
        SELECT seq, recorded_at, stream, type, intent_id, portal_id, data
          FROM outbox.log_default_moving ORDER BY seq;
        DROP TABLE outbox.log_default_moving;
    END IF;
END;
$function$;

REVOKE ALL ON FUNCTION outbox.ensure_log_partitions(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.ensure_log_partitions(integer) TO b24outbox_worker;
