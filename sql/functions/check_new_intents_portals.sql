-- The portal check of outbox.intents (migration 010) asks once per portal of the statement, not
-- once per intent: a bulk enqueue names one portal a thousand times.
CREATE OR REPLACE FUNCTION outbox.check_new_intents_portals()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    v_portals bigint[];
    v_missing bigint;
BEGIN
    SELECT array_agg(DISTINCT portal_id) INTO v_portals FROM new_intents;
    PERFORM 1 FROM outbox.portals p WHERE p.id = ANY (v_portals) FOR KEY SHARE OF p;
    -- A new snapshot: a portal removed while the lock above waited is gone here.
    SELECT n INTO v_missing FROM unnest(v_portals) AS n
     WHERE NOT EXISTS (SELECT 1 FROM outbox.portals p WHERE p.id = n)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'intent refers to portal %, which does not exist', v_missing
            USING ERRCODE = 'foreign_key_violation', TABLE = 'intents', COLUMN = 'portal_id';
    END IF;
    RETURN NULL;
END;
$function$;

REVOKE ALL ON FUNCTION outbox.check_new_intents_portals() FROM PUBLIC;
