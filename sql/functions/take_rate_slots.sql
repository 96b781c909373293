-- Takes up to p_wanted request slots of a portal's bucket at once, so a claim's calls cost one
-- locked update of the bucket instead of one each. The rules are outbox.take_rate_slot's (one
-- slot kept free for jitter, a QUERY_LIMIT_EXCEEDED pause honoured); granting k slots now is
-- what k single grants in a row would give. `granted` is 0 to p_wanted; when it is 0, `wait`
-- is the seconds before one slot frees.
CREATE OR REPLACE FUNCTION outbox.take_rate_slots(p_portal_id bigint, p_wanted integer, OUT granted integer, OUT wait double precision)
 RETURNS record
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_capacity double precision;
    v_drain double precision;
    v_level double precision;
    v_updated timestamptz;
    v_paused timestamptz;
BEGIN
    IF p_wanted IS NULL OR p_wanted < 1 THEN
        RAISE EXCEPTION 'p_wanted must be at least 1, not %', p_wanted USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO outbox.portal_rate (portal_id) VALUES (p_portal_id) ON CONFLICT DO NOTHING;
    SELECT r.level, r.updated_at, r.paused_until, greatest(1, p.rate_bucket - 1), p.rate_drain
      INTO v_level, v_updated, v_paused, v_capacity, v_drain
      FROM outbox.portal_rate r JOIN outbox.portals p ON p.id = r.portal_id
     WHERE r.portal_id = p_portal_id
       FOR UPDATE OF r;
    IF v_paused IS NOT NULL AND v_paused > v_now THEN
        granted := 0;
        wait := extract(epoch FROM v_paused - v_now);
        RETURN;
    END IF;
    -- A bucket row created just now may carry a stamp after v_now: no time has passed then.
    v_level := greatest(0, v_level - v_drain * greatest(0, extract(epoch FROM v_now - v_updated)));
    -- As many as fit: level + granted stays within capacity.
    granted := greatest(0, least(p_wanted::double precision, floor(v_capacity - v_level)))::integer;
    IF granted = 0 THEN
        UPDATE outbox.portal_rate SET level = v_level, updated_at = v_now WHERE portal_id = p_portal_id;
        wait := (v_level + 1 - v_capacity) / v_drain;
        RETURN;
    END IF;
    UPDATE outbox.portal_rate SET level = v_level + granted, updated_at = v_now, paused_until = NULL
     WHERE portal_id = p_portal_id;
    wait := 0;
END;
$function$;

REVOKE ALL ON FUNCTION outbox.take_rate_slots(bigint,integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.take_rate_slots(bigint,integer) TO b24outbox_worker;
