-- Stores the pair an exchange of the refresh token `p_spent` returned and ends the turn.
--   stored:     the pair is stored;
--   superseded: another pair was stored meanwhile (`portal set-tokens`): it stays.
CREATE OR REPLACE FUNCTION outbox.finish_token_refresh(p_portal_id bigint, p_spent bytea, p_access_token text, p_refresh_token text, p_expires_at timestamp with time zone, p_issued_at timestamp with time zone)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
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
$function$;

REVOKE ALL ON FUNCTION outbox.finish_token_refresh(bigint,bytea,text,text,timestamp with time zone,timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.finish_token_refresh(bigint,bytea,text,text,timestamp with time zone,timestamp with time zone) TO b24outbox_worker;
