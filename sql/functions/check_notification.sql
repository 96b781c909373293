CREATE OR REPLACE FUNCTION outbox.check_notification(payload jsonb)
 RETURNS void
 LANGUAGE plpgsql
 IMMUTABLE
AS $function$
DECLARE
    unknown text;
BEGIN
    SELECT string_agg(k, ', ') INTO unknown FROM jsonb_object_keys(payload) k
     WHERE k NOT IN ('USER_ID', 'MESSAGE', 'MESSAGE_OUT', 'TAG', 'SUB_TAG', 'ATTACH');
    IF unknown IS NOT NULL THEN
        PERFORM outbox.invalid(left(unknown, 60), 'unknown field; a notification takes USER_ID, MESSAGE, MESSAGE_OUT, TAG, SUB_TAG, ATTACH');
    END IF;
    PERFORM outbox.check_id('USER_ID', payload->'USER_ID');
    PERFORM outbox.check_text('MESSAGE', payload->'MESSAGE', true, 20000);
    PERFORM outbox.check_text('MESSAGE_OUT', payload->'MESSAGE_OUT', false, 20000);
    PERFORM outbox.check_text('TAG', payload->'TAG', false, 200);
    PERFORM outbox.check_text('SUB_TAG', payload->'SUB_TAG', false, 200);
    PERFORM outbox.check_attach(payload->'ATTACH');
END;
$function$;

REVOKE ALL ON FUNCTION outbox.check_notification(jsonb) FROM PUBLIC;
