-- Records how an exchange of `p_spent` by `p_holder` failed:
--   p_outcome 'not_sent':   it never reached the server;
--   p_outcome 'unanswered': no answer came;
--   p_outcome 'refused':    the server refused the token; nobody tries it again.
-- Either way the next exchange may start after `p_retry`, doubled for each failure in a row
-- up to a minute. The answer: recorded; stale (the turn was no longer the caller's: nothing recorded);
-- stored (a newer pair is stored: use it, in the other columns); lost (recorded 'refused'
-- after an unanswered exchange: the server rotated the pair and its answer is gone).
CREATE OR REPLACE FUNCTION outbox.fail_token_refresh(p_portal_id bigint, p_holder text, p_spent bytea, p_outcome text, p_retry interval, p_error text)
 RETURNS TABLE(outcome text, access_token text, refresh_token text, expires_at timestamp with time zone, issued_at timestamp with time zone)
 LANGUAGE plpgsql
AS $function$
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
$function$;

REVOKE ALL ON FUNCTION outbox.fail_token_refresh(bigint,text,bytea,text,interval,text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.fail_token_refresh(bigint,text,bytea,text,interval,text) TO b24outbox_worker;
