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
    IF TG_OP <> 'INSERT' AND OLD.status IN ('delivered', 'cancelled') THEN
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
