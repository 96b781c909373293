CREATE OR REPLACE FUNCTION outbox.refuse_intent_move()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    RAISE EXCEPTION 'intent % cannot move from portal % to portal %', OLD.id, OLD.portal_id, NEW.portal_id
        USING ERRCODE = 'foreign_key_violation', TABLE = 'intents', COLUMN = 'portal_id';
END;
$function$;

REVOKE ALL ON FUNCTION outbox.refuse_intent_move() FROM PUBLIC;
