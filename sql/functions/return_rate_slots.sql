-- Gives back request slots a claim took but will not use (fewer intents than calls granted).
-- Not once a QUERY_LIMIT_EXCEEDED was noted since the last grant (paused_until is set then, and
-- cleared by the next grant): the pause set the bucket full, which the slots are part of.
CREATE OR REPLACE FUNCTION outbox.return_rate_slots(p_portal_id bigint, p_slots integer)
 RETURNS void
 LANGUAGE sql
AS $function$
    UPDATE outbox.portal_rate SET level = greatest(0, level - p_slots)
     WHERE portal_id = p_portal_id AND p_slots > 0
       AND paused_until IS NULL;
$function$;

REVOKE ALL ON FUNCTION outbox.return_rate_slots(bigint,integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.return_rate_slots(bigint,integer) TO b24outbox_worker;
