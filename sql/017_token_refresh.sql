-- Token refreshes: one per portal at a time across every process, none that a producer waits
-- for, and none whose outcome is forgotten.
--
-- * A refresh used to hold the portal row FOR UPDATE during its HTTP exchange, and every
--   enqueue locks its portal FOR KEY SHARE: producers waited for the OAuth server, and a
--   producer's long transaction held the refresh (and the worker's lease) up. A refresh now
--   takes a turn, a row of its own committed before the exchange: no transaction stays open
--   across it, and a holder cut from the network loses its turn when `until` passes. Storing
--   the new pair updates non-key columns only (FOR NO KEY UPDATE), which KEY SHARE never waits for.
-- * Every refresh spends the refresh token: an exchange whose answer was lost may have rotated
--   the pair at the server. The turn says so ('unanswered', counted), the next exchange of the
--   same token is told, and a refusal after one means the pair is lost (`portal.tokens_lost`).
-- * A failed exchange rests the turn ('backoff', doubling up to a minute): an OAuth server that
--   is down gets one try per portal at a time, not one per waiting call.
-- * A refresh token the OAuth server refused ('refused') is not tried again by anyone until a
--   new pair is stored (`portal set-tokens`), which clears the turn.
-- * Refresh tokens are named by their SHA-256, never stored twice or written to the log.
-- * Every function here locks the portal row FOR NO KEY UPDATE for its own short transaction,
--   so the turns of one portal change one at a time (an enqueue's KEY SHARE never waits for it).

ALTER TABLE outbox.portals ADD COLUMN token_issued_at timestamptz;

CREATE TABLE outbox.token_refreshes (
    portal_id  bigint PRIMARY KEY REFERENCES outbox.portals (id) ON DELETE CASCADE,
    -- running: `holder` exchanges until `until`; backoff: the next exchange starts after
    -- `until`; refused: the OAuth server refused the token, nobody tries it again.
    state      text NOT NULL CHECK (state IN ('running', 'backoff', 'refused')),
    holder     text NOT NULL CHECK (length(holder) BETWEEN 1 AND 200),
    until      timestamptz NOT NULL,
    -- SHA-256 of the refresh token the turn spends.
    spent      bytea NOT NULL CHECK (length(spent) = 32),
    -- Exchanges of `spent` whose answer never came (a lost answer, a holder gone mid-exchange).
    unanswered integer NOT NULL DEFAULT 0 CHECK (unanswered >= 0),
    -- Failed exchanges in a row, for the backoff.
    failures   integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    error      text CHECK (length(error) <= 200),
    started_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION outbox.token_sha(p_token text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN sha256(convert_to(p_token, 'UTF8'));

CREATE FUNCTION outbox.append_token_log(p_portal_id bigint, p_type text, p_data jsonb) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO outbox.log (stream, type, portal_id, data)
    SELECT 'portal-' || name, p_type, id, p_data FROM outbox.portals WHERE id = p_portal_id;
$$;

-- Asks for the turn to replace the pair whose access token has the SHA-256 `p_replacing`.
--   stored:   the stored pair is another: use it (no exchange);
--   refresh:  the turn is the caller's until `p_turn` from now: exchange `refresh_token`;
--             `unanswered` counts earlier exchanges of that token whose answer never came;
--   wait:     another holder's turn runs for `wait` more seconds;
--   refused:  the OAuth server refused the stored refresh token (`error`);
--   missing:  the portal has no stored pair (or no refresh token).
CREATE FUNCTION outbox.begin_token_refresh(p_portal_id bigint, p_holder text, p_replacing bytea, p_turn interval)
RETURNS TABLE (outcome text, access_token text, refresh_token text, expires_at timestamptz,
               issued_at timestamptz, wait double precision, unanswered integer, error text, took_over boolean)
LANGUAGE plpgsql AS $$
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
$$;

-- Stores the pair an exchange of the refresh token `p_spent` returned and ends the turn.
--   stored:     the pair is stored;
--   superseded: another pair was stored meanwhile (`portal set-tokens`): it stays.
CREATE FUNCTION outbox.finish_token_refresh(
    p_portal_id bigint, p_spent bytea, p_access_token text, p_refresh_token text,
    p_expires_at timestamptz, p_issued_at timestamptz
) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_unanswered integer;
BEGIN
    IF p_access_token IS NULL OR p_access_token = '' OR p_refresh_token IS NULL OR p_refresh_token = '' THEN
        RAISE EXCEPTION 'a refreshed pair needs both tokens' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM 1 FROM outbox.portals WHERE id = p_portal_id FOR NO KEY UPDATE;
    UPDATE outbox.portals
       SET access_token = p_access_token, refresh_token = p_refresh_token,
           token_expires_at = p_expires_at, token_issued_at = p_issued_at, updated_at = now()
     WHERE id = p_portal_id AND outbox.token_sha(refresh_token) = p_spent;
    IF NOT FOUND THEN
        DELETE FROM outbox.token_refreshes WHERE portal_id = p_portal_id AND spent = p_spent;
        RETURN 'superseded';
    END IF;
    DELETE FROM outbox.token_refreshes WHERE portal_id = p_portal_id RETURNING unanswered INTO v_unanswered;
    PERFORM outbox.append_token_log(p_portal_id, 'portal.tokens_refreshed',
        jsonb_strip_nulls(jsonb_build_object(
            'expires_at', extract(epoch FROM p_expires_at)::float8,
            'after_unanswered', CASE WHEN v_unanswered > 0 THEN v_unanswered END)));
    RETURN 'stored';
END;
$$;

-- Records how an exchange of `p_spent` by `p_holder` failed:
--   p_outcome 'not_sent':   it never reached the server;
--   p_outcome 'unanswered': no answer came;
--   p_outcome 'refused':    the server refused the token; nobody tries it again.
-- Either way the next exchange may start after `p_retry`, doubled for each failure in a row
-- up to a minute. The answer: recorded; stale (the turn was no longer the caller's: nothing recorded);
-- stored (a newer pair is stored: use it, in the other columns); lost (recorded 'refused'
-- after an unanswered exchange: the server rotated the pair and its answer is gone).
CREATE FUNCTION outbox.fail_token_refresh(
    p_portal_id bigint, p_holder text, p_spent bytea, p_outcome text, p_retry interval, p_error text
) RETURNS TABLE (outcome text, access_token text, refresh_token text, expires_at timestamptz, issued_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    p record;
    r outbox.token_refreshes;
    v_error text := left(p_error, 200);
BEGIN
    IF p_outcome NOT IN ('not_sent', 'unanswered', 'refused') THEN
        RAISE EXCEPTION 'unknown refresh outcome %', p_outcome USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT t.access_token, t.refresh_token, t.token_expires_at, t.token_issued_at INTO p
      FROM outbox.portals t WHERE t.id = p_portal_id FOR NO KEY UPDATE;
    IF FOUND AND p.refresh_token IS NOT NULL AND outbox.token_sha(p.refresh_token) <> p_spent THEN
        -- Another process stored a newer pair (a refusal of the old token is then expected).
        RETURN QUERY SELECT 'stored', p.access_token, p.refresh_token, p.token_expires_at, p.token_issued_at;
        RETURN;
    END IF;
    SELECT * INTO r FROM outbox.token_refreshes t
     WHERE t.portal_id = p_portal_id AND t.holder = p_holder AND t.spent = p_spent AND t.state = 'running';
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'stale', NULL::text, NULL::text, NULL::timestamptz, NULL::timestamptz;
        RETURN;
    END IF;
    IF p_outcome IN ('not_sent', 'unanswered') THEN
        UPDATE outbox.token_refreshes
           SET state = 'backoff', failures = r.failures + 1, error = v_error,
               until = clock_timestamp() + least(p_retry * power(2, least(r.failures, 10)), interval '60 seconds'),
               unanswered = r.unanswered + (p_outcome = 'unanswered')::int
         WHERE portal_id = p_portal_id;
        IF p_outcome = 'unanswered' THEN
            PERFORM outbox.append_token_log(p_portal_id, 'portal.token_refresh_unanswered',
                jsonb_build_object('holder', p_holder, 'unanswered', r.unanswered + 1, 'error', v_error));
        END IF;
    ELSE
        UPDATE outbox.token_refreshes SET state = 'refused', until = 'infinity', error = v_error
         WHERE portal_id = p_portal_id;
        PERFORM outbox.append_token_log(p_portal_id,
            CASE WHEN r.unanswered > 0 THEN 'portal.tokens_lost' ELSE 'portal.token_refresh_refused' END,
            jsonb_strip_nulls(jsonb_build_object('holder', p_holder, 'error', v_error,
                'unanswered', CASE WHEN r.unanswered > 0 THEN r.unanswered END)));
        IF r.unanswered > 0 THEN
            RETURN QUERY SELECT 'lost', NULL::text, NULL::text, NULL::timestamptz, NULL::timestamptz;
            RETURN;
        END IF;
    END IF;
    RETURN QUERY SELECT 'recorded', NULL::text, NULL::text, NULL::timestamptz, NULL::timestamptz;
END;
$$;

-- An operator's new pair (re-authorisation): stored, any turn and refusal cleared.
CREATE FUNCTION outbox.set_portal_tokens(
    p_name text, p_access_token text, p_refresh_token text, p_expires_at timestamptz, p_by text
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_kind text;
BEGIN
    IF p_access_token IS NULL OR p_access_token = '' OR p_refresh_token IS NULL OR p_refresh_token = '' THEN
        RAISE EXCEPTION 'a token pair needs both tokens' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT id, auth_kind INTO v_id, v_kind FROM outbox.portals WHERE name = p_name FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'there is no portal named %', p_name USING ERRCODE = 'no_data_found';
    END IF;
    IF v_kind <> 'oauth' THEN
        RAISE EXCEPTION 'portal % uses a webhook, which has no tokens', p_name USING ERRCODE = 'wrong_object_type';
    END IF;
    UPDATE outbox.portals
       SET access_token = p_access_token, refresh_token = p_refresh_token, token_expires_at = p_expires_at,
           token_issued_at = CASE WHEN p_expires_at IS NULL THEN NULL ELSE now() END, updated_at = now()
     WHERE id = v_id;
    DELETE FROM outbox.token_refreshes WHERE portal_id = v_id;
    PERFORM outbox.append_token_log(v_id, 'portal.tokens_set',
        jsonb_strip_nulls(jsonb_build_object('by', left(p_by, 200), 'expires_at', extract(epoch FROM p_expires_at)::float8)));
    RETURN v_id;
END;
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON outbox.token_refreshes TO b24outbox_worker;
GRANT SELECT ON outbox.token_refreshes TO b24outbox_audit;
GRANT SELECT (token_issued_at) ON outbox.portals TO b24outbox_audit;
GRANT EXECUTE ON FUNCTION
    outbox.token_sha(text),
    outbox.append_token_log(bigint, text, jsonb),
    outbox.begin_token_refresh(bigint, text, bytea, interval),
    outbox.finish_token_refresh(bigint, bytea, text, text, timestamptz, timestamptz),
    outbox.fail_token_refresh(bigint, text, bytea, text, interval, text)
    TO b24outbox_worker;
