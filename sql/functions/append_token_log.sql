CREATE OR REPLACE FUNCTION outbox.append_token_log(p_portal_id bigint, p_type text, p_data jsonb)
 RETURNS void
 LANGUAGE sql
AS $function$
    INSERT INTO outbox.log (stream, type, portal_id, data)
    SELECT 'portal-' || name, p_type, id, p_data FROM outbox.portals WHERE id = p_portal_id;
$function$;

REVOKE ALL ON FUNCTION outbox.append_token_log(bigint,text,jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.append_token_log(bigint,text,jsonb) TO b24outbox_worker;
