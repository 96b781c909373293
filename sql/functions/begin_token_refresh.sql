-- Asks for the turn to replace the pair whose access token has the SHA-256 `p_replacing`.
--   stored:   the stored pair is another: use it (no exchange);
--   refresh:  the turn is the caller's until `p_turn` from now: exchange `refresh_token`;
--             `unanswered` counts earlier exchanges of that token whose answer never came;
--   wait:     another holder's turn runs for `wait` more seconds;
--   refused:  the OAuth server refused the stored refresh token (`error`);
--   missing:  the portal has no stored pair (or no refresh token).
CREATE OR REPLACE FUNCTION outbox.begin_token_refresh(p_portal_id bigint, p_holder text, p_replacing bytea, p_turn interval)
 RETURNS TABLE(outcome text, access_token text, refresh_token text, expires_at timestamp with time zone, issued_at timestamp with time zone, wait double precision, unanswered integer, error text, took_over boolean)
 LANGUAGE plpgsql
AS $function$
DECLARE
    p record;
    r outbox.token_refreshes;
    v_spent bytea;
    v_now timestamptz := clock_timestamp();
    v_took_over boolean := false;
BEGIN
    SELECT t.access_token, t.refresh_token, t.token_expires_at, t.token_issued_at INTO p
      FROM outbox.portals t WHERE t.id = p_portal_id FOR NO KEY UPDATE;
    IF NOT FOUND OR p.access_token IS NULL THEN
        RETURN QUERY SELECT 'missing', NULL::text, NULL::text, NULL::timestamptz, NULL::timestamptz, 0::float8, 0, NULL::text, false;
        RETURN;
    END IF;
    IF outbox.token_sha(p.access_token) <> p_replacing THEN
        RETURN QUERY SELECT 'stored', p.access_token, p.refresh_token, p.token_expires_at, p.token_issued_at, 0::float8, 0, NULL::text, false;
        RETURN;
    END IF;
    IF p.refresh_token IS NULL THEN
        RETURN QUERY SELECT 'missing', NULL::text, NULL::text, NULL::timestamptz, NULL::timestamptz, 0::float8, 0, NULL::text, false;
        RETURN;
    END IF;
    v_spent := outbox.token_sha(p.refresh_token);

    INSERT INTO outbox.token_refreshes AS t (portal_id, state, holder, until, spent)
    VALUES (p_portal_id, 'running', p_holder, v_now + p_turn, v_spent)
    ON CONFLICT (portal_id) DO NOTHING;
    IF FOUND THEN
        RETURN QUERY SELECT 'refresh', NULL::text, p.refresh_token, NULL::timestamptz, NULL::timestamptz, 0::float8, 0, NULL::text, false;
        RETURN;
    END IF;

    -- The row exists and stays: every function that deletes it waits for the portal row's lock.
    SELECT * INTO STRICT r FROM outbox.token_refreshes t WHERE t.portal_id = p_portal_id;
    IF r.spent = v_spent AND r.state = 'refused' THEN
        RETURN QUERY SELECT 'refused', NULL::text, NULL::text, NULL::timestamptz, NULL::timestamptz, 0::float8, r.unanswered, r.error, false;
        RETURN;
    END IF;
    IF r.spent = v_spent AND r.until > v_now THEN
        RETURN QUERY SELECT 'wait', NULL::text, NULL::text, NULL::timestamptz, NULL::timestamptz,
                            extract(epoch FROM r.until - v_now)::float8, r.unanswered, NULL::text, false;
        RETURN;
    END IF;
    IF r.spent <> v_spent THEN
        -- A turn about an older pair: the stored one is new, and so is this turn.
        r.unanswered := 0;
        r.failures := 0;
    ELSIF r.state = 'running' THEN
        -- The holder's turn ran out mid-exchange: whether the server rotated is unknown.
        v_took_over := true;
        r.unanswered := r.unanswered + 1;
        PERFORM outbox.append_token_log(p_portal_id, 'portal.token_refresh_unanswered',
            jsonb_build_object('holder', r.holder, 'unanswered', r.unanswered,
                               'error', 'the holder''s turn ended before it recorded an answer'));
    END IF;
    UPDATE outbox.token_refreshes t
       SET state = 'running', holder = p_holder, until = v_now + p_turn, spent = v_spent,
           unanswered = r.unanswered, failures = r.failures, error = NULL, started_at = v_now
     WHERE t.portal_id = p_portal_id;
    RETURN QUERY SELECT 'refresh', NULL::text, p.refresh_token, NULL::timestamptz, NULL::timestamptz, 0::float8, r.unanswered, NULL::text, v_took_over;
END;
$function$;

REVOKE ALL ON FUNCTION outbox.begin_token_refresh(bigint,text,bytea,interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.begin_token_refresh(bigint,text,bytea,interval) TO b24outbox_worker;
