-- Stores one event: a `bitrix.event` entry in the portal's stream, and one `chat.dialog_finished`
-- entry in the stream of every delivered chat intent that created a chat named in `p_links`
-- (objects with a `chat_id`). A repeated fingerprint stores nothing and returns the first entry.
-- Without a fingerprint, the SHA-256 of `p_data->'payload'` (jsonb text is canonical) is used.
CREATE OR REPLACE FUNCTION outbox.record_event(p_portal_id bigint, p_fingerprint text, p_data jsonb, p_links jsonb DEFAULT '[]'::jsonb)
 RETURNS TABLE(event_seq bigint, was_duplicate boolean, linked_intents bigint[])
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_fingerprint text := coalesce(
        p_fingerprint, 'sha256:' || encode(sha256(convert_to((p_data->'payload')::text, 'UTF8')), 'hex'));
    v_stream text;
    v_seq bigint;
    v_linked bigint[];
BEGIN
    IF jsonb_typeof(p_data) IS DISTINCT FROM 'object' OR jsonb_typeof(p_links) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'an event is a JSON object and its links a JSON array'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT 'portal-' || name INTO v_stream FROM outbox.portals WHERE id = p_portal_id;
    IF v_stream IS NULL THEN
        RAISE EXCEPTION 'portal % does not exist', p_portal_id USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- A concurrent identical delivery waits here for the first one's commit, then finds it.
    INSERT INTO outbox.inbound_events (portal_id, fingerprint) VALUES (p_portal_id, v_fingerprint)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN QUERY SELECT e.log_seq, true, '{}'::bigint[] FROM outbox.inbound_events e
                      WHERE e.portal_id = p_portal_id AND e.fingerprint = v_fingerprint;
        RETURN;
    END IF;

    INSERT INTO outbox.log (stream, type, portal_id, data)
    VALUES (v_stream, 'bitrix.event', p_portal_id, p_data || jsonb_build_object('fingerprint', v_fingerprint))
    RETURNING seq INTO v_seq;
    UPDATE outbox.inbound_events SET log_seq = v_seq
     WHERE portal_id = p_portal_id AND fingerprint = v_fingerprint;

    WITH linked AS (
        INSERT INTO outbox.log (stream, type, intent_id, portal_id, data)
        SELECT 'intent-' || i.id, 'chat.dialog_finished', i.id, p_portal_id,
               l.link || jsonb_build_object('event_seq', v_seq)
          FROM jsonb_array_elements(p_links) AS l(link)
          JOIN outbox.intents i
            ON i.portal_id = p_portal_id AND i.kind = 'chat.create' AND i.status = 'delivered'
           AND i.result_id = (l.link->>'chat_id')::bigint
        RETURNING intent_id
    )
    SELECT coalesce(array_agg(DISTINCT intent_id), '{}') INTO v_linked FROM linked;

    RETURN QUERY SELECT v_seq, false, v_linked;
END;
$function$;

REVOKE ALL ON FUNCTION outbox.record_event(bigint,text,jsonb,jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.record_event(bigint,text,jsonb,jsonb) TO b24outbox_worker;
