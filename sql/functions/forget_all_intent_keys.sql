CREATE OR REPLACE FUNCTION outbox.forget_all_intent_keys()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    TRUNCATE outbox.intent_keys, outbox.chat_entities;
    RETURN NULL;
END;
$function$;

REVOKE ALL ON FUNCTION outbox.forget_all_intent_keys() FROM PUBLIC;
