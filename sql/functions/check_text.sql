CREATE OR REPLACE FUNCTION outbox.check_text(field text, value jsonb, required boolean, max_length integer)
 RETURNS void
 LANGUAGE plpgsql
 IMMUTABLE
AS $function$
BEGIN
    IF value IS NULL OR value = 'null'::jsonb THEN
        IF required THEN PERFORM outbox.invalid(field, 'is required'); END IF;
        RETURN;
    END IF;
    IF jsonb_typeof(value) <> 'string' THEN
        PERFORM outbox.invalid(field, 'must be a string, got ' || jsonb_typeof(value));
    END IF;
    IF required AND btrim(value #>> '{}', E' \t\r\n') = '' THEN
        PERFORM outbox.invalid(field, 'must not be empty');
    END IF;
    IF length(value #>> '{}') > max_length THEN
        PERFORM outbox.invalid(field, format('is %s characters, more than the %s allowed',
            length(value #>> '{}'), max_length));
    END IF;
END;
$function$;

REVOKE ALL ON FUNCTION outbox.check_text(text,jsonb,boolean,integer) FROM PUBLIC;
