-- Raise a validation error naming the field (and, in a bulk enqueue, the item).
CREATE OR REPLACE FUNCTION outbox.invalid(field text, reason text)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
DECLARE
    item text := nullif(current_setting('outbox.enqueue_item', true), '');
BEGIN
    RAISE EXCEPTION '%', CASE WHEN item IS NULL THEN '' ELSE 'intent ' || item || ': ' END || field || ': ' || reason
        USING ERRCODE = 'invalid_parameter_value', COLUMN = field;
END;
$function$;

REVOKE ALL ON FUNCTION outbox.invalid(text,text) FROM PUBLIC;
