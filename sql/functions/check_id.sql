-- A positive Bitrix24 id (users and chats are 32-bit on the portal side).
CREATE OR REPLACE FUNCTION outbox.check_id(field text, value jsonb)
 RETURNS void
 LANGUAGE plpgsql
 IMMUTABLE
AS $function$
BEGIN
    IF value IS NULL OR jsonb_typeof(value) <> 'number' OR value::text !~ '^[0-9]+$'
       OR value::numeric < 1 OR value::numeric > 2147483647 THEN
        PERFORM outbox.invalid(field, 'must be a positive integer user id (1 to 2147483647), got '
            || coalesce(left(value::text, 40), 'nothing'));
    END IF;
END;
$function$;

REVOKE ALL ON FUNCTION outbox.check_id(text,jsonb) FROM PUBLIC;
