-- The claim's first step (IntentStore.claimTurn, after fold_wakeups in a statement of its own;
-- the second is claim_intents.sql, and settle_turn.sql ends it): the portal whose turn is
-- due first, among p_portals (NULL: all), that can send now: active, with a due intent, and room
-- in its shared bucket for at least one of the p_calls requests the claim wants. The granted
-- requests are taken from the bucket (take_rate_slots) and the portal goes to the back of the
-- line, so portals take turns whatever their backlogs. A turn looked at and found unable to
-- send is moved to when it can (its next intent's time, its bucket's room) or removed (no
-- pending intent, or the portal is not active: resuming it wakes it again). No portal: `wait`
-- is the seconds until the first turn is due (0: look again now; NULL: none is waiting). The
-- turn stays locked until the caller's transaction ends, which holds the claim too: one claim
-- of a portal at a time, each seeing what the one before it claimed.
CREATE OR REPLACE FUNCTION outbox.take_turn(p_portals bigint[], p_calls integer, OUT portal_id bigint, OUT calls integer, OUT wait double precision)
 RETURNS record
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
DECLARE
    v_portal bigint;
    v_state text;
    v_next timestamptz;
    v_granted integer;
    v_wait double precision;
    v_waited boolean := false;
    v_lock_timeout text;
BEGIN
    IF p_calls IS NULL OR p_calls < 1 THEN
        RAISE EXCEPTION 'p_calls must be at least 1, not %', p_calls USING ERRCODE = 'invalid_parameter_value';
    END IF;
    calls := 0;
    -- Bounded: each look hands out the turn, or moves it later, or removes it.
    FOR v_look IN 1..16 LOOP
        SELECT t.portal_id INTO v_portal FROM outbox.portal_turns t
         WHERE t.due_at <= now() AND (p_portals IS NULL OR t.portal_id = ANY (p_portals))
         ORDER BY t.due_at, t.portal_id LIMIT 1
           FOR NO KEY UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            SELECT min(t.due_at) INTO v_next FROM outbox.portal_turns t
             WHERE p_portals IS NULL OR t.portal_id = ANY (p_portals);
            IF v_next <= now() AND NOT v_waited THEN
                -- Every due turn is held by a claim, for the milliseconds a claim takes: wait
                -- for the first to be free instead of asking again and again, then look again.
                v_waited := true;
                v_lock_timeout := current_setting('lock_timeout');
                BEGIN
                    PERFORM set_config('lock_timeout', '50ms', true);
                    PERFORM 1 FROM outbox.portal_turns t
                     WHERE t.due_at <= now() AND (p_portals IS NULL OR t.portal_id = ANY (p_portals))
                     ORDER BY t.due_at, t.portal_id LIMIT 1
                       FOR NO KEY UPDATE;
                    -- Free now: undone at once, so the wait holds no lock of its own.
                    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'b24outbox: turn free';
                EXCEPTION WHEN lock_not_available OR deadlock_detected OR raise_exception THEN
                    NULL;
                END;
                PERFORM set_config('lock_timeout', v_lock_timeout, true);
                CONTINUE;
            END IF;
            wait := CASE WHEN v_next IS NULL THEN NULL
                         ELSE greatest(0, extract(epoch FROM v_next - clock_timestamp())) END;
            RETURN;
        END IF;
        SELECT p.state INTO v_state FROM outbox.portals p WHERE p.id = v_portal;
        v_next := NULL;
        IF v_state = 'active' THEN
            SELECT i.next_attempt_at INTO v_next FROM outbox.intents i
             WHERE i.portal_id = v_portal AND i.status = 'pending'
             ORDER BY i.next_attempt_at, i.id LIMIT 1;
        END IF;
        IF v_next IS NULL THEN
            -- Whatever makes an intent pending later wakes the portal again (wake_portals.sql).
            DELETE FROM outbox.portal_turns t WHERE t.portal_id = v_portal;
        ELSIF v_next > now() THEN
            UPDATE outbox.portal_turns t SET due_at = v_next WHERE t.portal_id = v_portal;
        ELSE
            SELECT r.granted, r.wait INTO v_granted, v_wait FROM outbox.take_rate_slots(v_portal, p_calls) r;
            IF v_granted > 0 THEN
                -- The back of the line, stamped with this transaction's start: a claim that
                -- waited for this turn (above) and began after this one can take it next.
                UPDATE outbox.portal_turns t SET due_at = now() WHERE t.portal_id = v_portal;
                portal_id := v_portal;
                calls := v_granted;
                wait := 0;
                RETURN;
            END IF;
            UPDATE outbox.portal_turns t SET due_at = clock_timestamp() + make_interval(secs => v_wait)
             WHERE t.portal_id = v_portal;
        END IF;
    END LOOP;
    -- Sixteen turns looked at and none could send: more may be due.
    wait := 0;
END;
$function$;

REVOKE ALL ON FUNCTION outbox.take_turn(bigint[],integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.take_turn(bigint[],integer) TO b24outbox_worker;
