-- A portal keeps its intents (migration 010): asked of its keys, through their primary key, not
-- by scanning every intent while the portal is locked.
CREATE OR REPLACE FUNCTION outbox.refuse_portal_with_intents()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'portals are removed only under READ COMMITTED, not %',
                        current_setting('transaction_isolation')
            USING ERRCODE = 'object_not_in_prerequisite_state', TABLE = 'portals',
                  HINT = 'Under a stricter isolation level the check could miss intents enqueued while it waited.';
    END IF;
    IF EXISTS (SELECT 1 FROM outbox.intent_keys WHERE portal_id = OLD.id) THEN
        RAISE EXCEPTION 'portal % still has intents', OLD.name
            USING ERRCODE = 'foreign_key_violation', TABLE = 'portals',
                  HINT = 'Their audit trail needs the portal; it stays.';
    END IF;
    RETURN OLD;
END;
$function$;

REVOKE ALL ON FUNCTION outbox.refuse_portal_with_intents() FROM PUBLIC;
