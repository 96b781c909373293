CREATE OR REPLACE FUNCTION outbox.refuse_portals_truncate()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    IF EXISTS (SELECT 1 FROM outbox.intents) THEN
        RAISE EXCEPTION 'outbox.portals cannot be truncated while intents exist'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'portals';
    END IF;
    RETURN NULL;
END;
$function$;

REVOKE ALL ON FUNCTION outbox.refuse_portals_truncate() FROM PUBLIC;
