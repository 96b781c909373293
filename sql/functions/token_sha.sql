CREATE OR REPLACE FUNCTION outbox.token_sha(p_token text)
 RETURNS bytea
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE STRICT
RETURN sha256(convert_to(p_token, 'UTF8'::name));

REVOKE ALL ON FUNCTION outbox.token_sha(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.token_sha(text) TO b24outbox_worker
;
