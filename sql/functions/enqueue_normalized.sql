-- One intent: its key first, then (for a chat) its entity pair, then the intent under the id
-- the key was given.
CREATE OR REPLACE FUNCTION outbox.enqueue_normalized(p_portal text, p_kind text, p_payload jsonb, p_key text DEFAULT NULL::text, p_not_before timestamp with time zone DEFAULT NULL::timestamp with time zone)
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    v_portal_id bigint;
    v_payload jsonb := p_payload;
    v_key text := p_key;
    v_pair text;
    v_id bigint;
    v_holder bigint;
    v_held jsonb;
BEGIN
    SELECT id INTO v_portal_id FROM outbox.portals WHERE name = p_portal;
    IF v_portal_id IS NULL THEN
        PERFORM outbox.invalid('portal', format('unknown portal %s; add it with b24outbox portal add', coalesce(quote_literal(left(p_portal, 64)), 'NULL')));
    END IF;
    IF p_kind IS NULL OR p_kind NOT IN ('chat.create', 'notify.personal', 'notify.system') THEN
        PERFORM outbox.invalid('kind', 'must be chat.create, notify.personal or notify.system');
    END IF;
    IF v_payload IS NULL OR jsonb_typeof(v_payload) <> 'object' THEN
        PERFORM outbox.invalid('payload', 'must be a JSON object of Bitrix24 fields');
    END IF;
    IF v_key IS NOT NULL AND (length(v_key) NOT BETWEEN 1 AND 200 OR v_key ~ '[[:cntrl:]]') THEN
        PERFORM outbox.invalid('key', 'must be 1 to 200 characters without control characters');
    END IF;

    IF p_kind = 'chat.create' THEN
        PERFORM outbox.check_chat(v_payload);
        -- A pair given as JSON nulls is no pair: it is derived.
        IF coalesce(v_payload->'ENTITY_TYPE', 'null'::jsonb) = 'null'::jsonb THEN
            v_payload := v_payload - 'ENTITY_TYPE' - 'ENTITY_ID';
        END IF;
        IF v_key IS NULL AND v_payload ? 'ENTITY_TYPE' THEN
            v_pair := (v_payload->>'ENTITY_TYPE') || ':' || (v_payload->>'ENTITY_ID');
            v_key := CASE WHEN length(v_pair) <= 200 THEN v_pair
                          ELSE left(v_pair, 135) || '#' || encode(sha256(convert_to(v_pair, 'UTF8')), 'hex') END;
        END IF;
        v_key := coalesce(v_key, 'auto:' || md5(p_kind || v_payload::text));
        -- The key as ENTITY_ID, unless the portal could not find it again by it ("0", blanks at
        -- its ends, other than ASCII) or could take it for another key (it ignores case): then
        -- its SHA-256.
        IF NOT v_payload ? 'ENTITY_TYPE' THEN
            v_payload := v_payload || jsonb_build_object('ENTITY_TYPE', 'B24OUTBOX', 'ENTITY_ID',
                CASE WHEN outbox.is_lookup_id(v_key) AND v_key = lower(v_key) THEN v_key
                     ELSE 'sha256:' || encode(sha256(convert_to(v_key, 'UTF8')), 'hex') END);
        END IF;
    ELSE
        -- An empty TAG (or one of blanks) would be stored and sent as no TAG at all.
        IF v_payload ? 'TAG' AND (v_payload->'TAG' = 'null'::jsonb
                                  OR (jsonb_typeof(v_payload->'TAG') = 'string'
                                      AND btrim(v_payload->>'TAG', E' \t\r\n') = '')) THEN
            v_payload := v_payload - 'TAG';
        END IF;
        PERFORM outbox.check_notification(v_payload);
        v_key := coalesce(v_key, 'auto:' || md5(p_kind || v_payload::text));
        IF NOT v_payload ? 'TAG' THEN
            v_payload := v_payload || jsonb_build_object('TAG', 'b24o:' || md5(p_kind || ':' || v_key));
        END IF;
    END IF;

    -- A key taken by a producer still in flight is waited for: once it commits, it is found.
    INSERT INTO outbox.intent_keys (portal_id, kind, idempotency_key, intent_id)
    VALUES (v_portal_id, p_kind, v_key, nextval('outbox.intents_id_seq'))
    ON CONFLICT DO NOTHING
    RETURNING intent_id INTO v_id;

    IF v_id IS NULL THEN
        SELECT intent_id INTO v_id FROM outbox.intent_keys
         WHERE portal_id = v_portal_id AND kind = p_kind AND idempotency_key = v_key;
        RETURN v_id;
    END IF;

    IF p_kind = 'chat.create' THEN
        -- A pair held by an intent still being enqueued elsewhere is waited for, as a key is.
        INSERT INTO outbox.chat_entities (portal_id, entity_type, entity_id, intent_id)
        VALUES (v_portal_id, lower(v_payload->>'ENTITY_TYPE'), lower(v_payload->>'ENTITY_ID'), v_id)
        ON CONFLICT DO NOTHING
        RETURNING intent_id INTO v_holder;
        IF v_holder IS NULL THEN
            SELECT c.intent_id, i.payload INTO v_holder, v_held
              FROM outbox.chat_entities c JOIN outbox.intents i ON i.id = c.intent_id
             WHERE c.portal_id = v_portal_id AND c.entity_type = lower(v_payload->>'ENTITY_TYPE')
               AND c.entity_id = lower(v_payload->>'ENTITY_ID');
            IF v_held IS DISTINCT FROM v_payload THEN
                PERFORM outbox.invalid('ENTITY_ID', format(
                    'the chat %s:%s is already intent %s, with other fields; that intent keeps the pair (replay it if it is dead or cancelled)',
                    left(v_payload->>'ENTITY_TYPE', 50), left(v_payload->>'ENTITY_ID', 60), v_holder));
            END IF;
            -- The same chat under another key: the intent that holds the pair is the answer,
            -- and this call leaves nothing behind (a repeat takes the same path).
            DELETE FROM outbox.intent_keys
             WHERE portal_id = v_portal_id AND kind = p_kind AND idempotency_key = v_key AND intent_id = v_id;
            RETURN v_holder;
        END IF;
    END IF;

    INSERT INTO outbox.intents (id, portal_id, kind, payload, idempotency_key, next_attempt_at)
    OVERRIDING SYSTEM VALUE
    VALUES (v_id, v_portal_id, p_kind, v_payload, v_key, coalesce(p_not_before, now()));

    INSERT INTO outbox.log (stream, type, intent_id, portal_id, data)
    VALUES ('intent-' || v_id, 'intent.enqueued', v_id, v_portal_id, jsonb_build_object(
        'kind', p_kind, 'key', v_key, 'payload', v_payload,
        'not_before', coalesce(p_not_before, now())));
    -- Wakes listening workers when the producer's transaction commits.
    PERFORM pg_notify('outbox_intents', v_portal_id::text);
    RETURN v_id;
END;
$function$;

REVOKE ALL ON FUNCTION outbox.enqueue_normalized(text,text,jsonb,text,timestamp with time zone) FROM PUBLIC;
