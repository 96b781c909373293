-- An operator's new pair (re-authorisation): stored, any turn and refusal cleared.
CREATE OR REPLACE FUNCTION outbox.set_portal_tokens(p_name text, p_access_token text, p_refresh_token text, p_expires_at timestamp with time zone, p_by text)
 RETURNS bigint
 LANGUAGE plpgsql
AS $function$
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
$function$;

REVOKE ALL ON FUNCTION outbox.set_portal_tokens(text,text,text,timestamp with time zone,text) FROM PUBLIC;
