CREATE OR REPLACE FUNCTION outbox.count_finished_intents()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM outbox.intent_counts;
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        -- Once per statement: a million rows inserted delivered (a history, an import) would
        -- otherwise update one counter row a million times in one transaction, each update
        -- walking every version of it before.
        INSERT INTO outbox.intent_counts AS c (slot, status, n)
        SELECT pg_backend_pid(), status, count(*) FROM new_intents
         WHERE status IN ('delivered', 'cancelled') GROUP BY status
        ON CONFLICT (slot, status) DO UPDATE SET n = c.n + excluded.n;
        RETURN NULL;
    END IF;
    IF OLD.status IN ('delivered', 'cancelled') THEN
        INSERT INTO outbox.intent_counts AS c (slot, status, n) VALUES (pg_backend_pid(), OLD.status, -1)
        ON CONFLICT (slot, status) DO UPDATE SET n = c.n - 1;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.status IN ('delivered', 'cancelled') THEN
        INSERT INTO outbox.intent_counts AS c (slot, status, n) VALUES (pg_backend_pid(), NEW.status, 1)
        ON CONFLICT (slot, status) DO UPDATE SET n = c.n + 1;
    END IF;
    RETURN NULL;
END
$function$;

REVOKE ALL ON FUNCTION outbox.count_finished_intents() FROM PUBLIC;

-- The insert trigger counts per statement (migration 016 made it a row trigger): replaced here,
-- with the function it calls, in one transaction. Loaded before any table (sql/schema.sql lists
-- the triggers), the function comes alone.
DO $triggers$
BEGIN
    IF to_regclass('outbox.intent_counts') IS NOT NULL THEN
        DROP TRIGGER IF EXISTS intents_counted_insert ON outbox.intents;
        CREATE TRIGGER intents_counted_insert AFTER INSERT ON outbox.intents
            REFERENCING NEW TABLE AS new_intents FOR EACH STATEMENT EXECUTE FUNCTION outbox.count_finished_intents();
        ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_counted_insert;
    END IF;
END;
$triggers$;
