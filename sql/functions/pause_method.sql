-- Bitrix24 answered OPERATION_TIME_LIMIT for a method: the portal spent its time budget on it.
-- The method is held for p_seconds (the later end wins when two workers note it).
CREATE OR REPLACE FUNCTION outbox.pause_method(p_portal_id bigint, p_method text, p_seconds double precision)
 RETURNS void
 LANGUAGE sql
AS $function$
    INSERT INTO outbox.method_pauses (portal_id, method, paused_until)
    VALUES (p_portal_id, p_method, now() + make_interval(secs => p_seconds))
    ON CONFLICT (portal_id, method) DO UPDATE SET paused_until = greatest(method_pauses.paused_until, excluded.paused_until);
$function$;

REVOKE ALL ON FUNCTION outbox.pause_method(bigint,text,double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.pause_method(bigint,text,double precision) TO b24outbox_worker;
