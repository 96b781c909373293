-- A bulk call with an empty TAG takes the item-by-item path, which derives one.
CREATE OR REPLACE FUNCTION outbox.is_plain_notification(p_kind text, p_payload jsonb, p_key text)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$
    -- CASE, so each test runs only after the one it relies on (a cast after the type test).
    SELECT CASE
        WHEN p_kind IS NULL OR p_kind NOT IN ('notify.personal', 'notify.system') THEN false
        WHEN p_payload IS NULL OR jsonb_typeof(p_payload) <> 'object' THEN false
        WHEN p_payload - 'USER_ID' - 'MESSAGE' - 'TAG' <> '{}'::jsonb THEN false
        WHEN jsonb_typeof(p_payload->'USER_ID') IS DISTINCT FROM 'number' THEN false
        -- A whole number as written (1.0 has scale 1 and is refused by the rules, as 1e3 is not).
        WHEN scale((p_payload->'USER_ID')::numeric) <> 0 THEN false
        WHEN (p_payload->'USER_ID')::numeric NOT BETWEEN 1 AND 2147483647 THEN false
        WHEN jsonb_typeof(p_payload->'MESSAGE') IS DISTINCT FROM 'string' THEN false
        WHEN length(p_payload->>'MESSAGE') > 20000 THEN false
        WHEN btrim(p_payload->>'MESSAGE', E' \t\r\n') = '' THEN false
        WHEN p_payload ? 'TAG' AND (jsonb_typeof(p_payload->'TAG') <> 'string' OR length(p_payload->>'TAG') > 200) THEN false
        WHEN p_payload ? 'TAG' AND btrim(p_payload->>'TAG', E' \t\r\n') = '' THEN false
        WHEN p_key IS NOT NULL AND (length(p_key) NOT BETWEEN 1 AND 200 OR p_key ~ '[[:cntrl:]]') THEN false
        ELSE true
    END;
$function$;

REVOKE ALL ON FUNCTION outbox.is_plain_notification(text,jsonb,text) FROM PUBLIC;
