-- The pairs follow deleted and truncated intents, as the keys do.
CREATE OR REPLACE FUNCTION outbox.forget_deleted_intent_keys()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    DELETE FROM outbox.intent_keys k USING deleted_intents d WHERE k.intent_id = d.id
       AND (k.portal_id, k.kind, k.idempotency_key) = (d.portal_id, d.kind, d.idempotency_key);
    DELETE FROM outbox.chat_entities c USING deleted_intents d WHERE c.intent_id = d.id;
    RETURN NULL;
END;
$function$;

REVOKE ALL ON FUNCTION outbox.forget_deleted_intent_keys() FROM PUBLIC;
