-- The one-slot function, kept for workers of before, now takes its slot here, so the bucket's
-- rules are written once: 0 when granted, else the seconds to wait.
CREATE OR REPLACE FUNCTION outbox.take_rate_slot(p_portal_id bigint)
 RETURNS double precision
 LANGUAGE sql
AS $function$
    SELECT CASE WHEN granted > 0 THEN 0 ELSE wait END FROM outbox.take_rate_slots(p_portal_id, 1);
$function$;

REVOKE ALL ON FUNCTION outbox.take_rate_slot(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.take_rate_slot(bigint) TO b24outbox_worker;
