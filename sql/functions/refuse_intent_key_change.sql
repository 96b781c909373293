CREATE OR REPLACE FUNCTION outbox.refuse_intent_key_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    RAISE EXCEPTION 'intent % keeps its id, kind and idempotency key', OLD.id
        USING ERRCODE = 'restrict_violation', TABLE = 'intents';
END;
$function$;

REVOKE ALL ON FUNCTION outbox.refuse_intent_key_change() FROM PUBLIC;
