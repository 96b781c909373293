-- An ENTITY_ID a portal finds again exactly: printable ASCII, no blank at either end (its
-- collation ignores trailing blanks, case and accents), not "0".
CREATE OR REPLACE FUNCTION outbox.is_lookup_id(p_id text)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$
    SELECT p_id IS NOT NULL AND p_id <> '0' AND p_id ~ '^[!-~]([ -~]*[!-~])?$'
$function$;

REVOKE ALL ON FUNCTION outbox.is_lookup_id(text) FROM PUBLIC;
