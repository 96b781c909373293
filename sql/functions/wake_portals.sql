-- Intents that become pending wake their portal's turn (sql/022_portal_turns.sql): the trigger
-- writes a wake-up, which the next claim folds into outbox.portal_turns (fold_wakeups.sql). An
-- insert gives one wake-up per portal of the statement; an update one per intent that comes
-- back (a retry, a reaped lease, a replay, a resumed hold), which is rare and small.
CREATE OR REPLACE FUNCTION outbox.wake_portals()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        INSERT INTO outbox.portal_wakeups (portal_id, due_at)
        SELECT portal_id, min(next_attempt_at) FROM new_intents WHERE status = 'pending' GROUP BY portal_id;
    ELSE
        INSERT INTO outbox.portal_wakeups (portal_id, due_at) VALUES (NEW.portal_id, NEW.next_attempt_at);
    END IF;
    RETURN NULL;
END;
$function$;

REVOKE ALL ON FUNCTION outbox.wake_portals() FROM PUBLIC;

-- The triggers come with the function, so both are in this one file: `migrate` applies it after
-- the migration that made the tables (022). Loaded before any table (sql/schema.sql, which
-- lists the triggers too, is loaded after the function files), it makes the function alone.
DO $triggers$
BEGIN
    IF to_regclass('outbox.portal_wakeups') IS NOT NULL THEN
        CREATE OR REPLACE TRIGGER intents_wake_portals_insert AFTER INSERT ON outbox.intents
            REFERENCING NEW TABLE AS new_intents FOR EACH STATEMENT EXECUTE FUNCTION outbox.wake_portals();
        CREATE OR REPLACE TRIGGER intents_wake_portals_update AFTER UPDATE OF status, next_attempt_at ON outbox.intents
            FOR EACH ROW WHEN (new.status = 'pending' AND (old.status <> 'pending' OR new.next_attempt_at < old.next_attempt_at))
            EXECUTE FUNCTION outbox.wake_portals();
        -- As the other triggers of outbox.intents: also under session_replication_role = replica.
        ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_wake_portals_insert;
        ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_wake_portals_update;
        -- Intents enqueued after migration 022 gave the pending ones their turns, and before
        -- these triggers: their portals are woken now (the triggers' lock waited for them).
        PERFORM outbox.wake_stranded_portals();
    END IF;
END;
$triggers$;
