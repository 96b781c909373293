-- Producers: validation and enqueue functions, callable from any language inside the
-- producer's own transaction. Bad input raises SQLSTATE 22023 with the field in COLUMN and
-- writes nothing.

-- Raise a validation error naming the field (and, in a bulk enqueue, the item).
CREATE FUNCTION outbox.invalid(field text, reason text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    item text := nullif(current_setting('outbox.enqueue_item', true), '');
BEGIN
    RAISE EXCEPTION '%', CASE WHEN item IS NULL THEN '' ELSE 'intent ' || item || ': ' END || field || ': ' || reason
        USING ERRCODE = 'invalid_parameter_value', COLUMN = field;
END;
$$;

-- A positive Bitrix24 id (users and chats are 32-bit on the portal side).
CREATE FUNCTION outbox.check_id(field text, value jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF value IS NULL OR jsonb_typeof(value) <> 'number' OR value::text !~ '^[0-9]+$'
       OR value::numeric < 1 OR value::numeric > 2147483647 THEN
        PERFORM outbox.invalid(field, 'must be a positive integer user id (1 to 2147483647), got '
            || coalesce(left(value::text, 40), 'nothing'));
    END IF;
END;
$$;

CREATE FUNCTION outbox.check_text(field text, value jsonb, required boolean, max_length integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF value IS NULL OR value = 'null'::jsonb THEN
        IF required THEN PERFORM outbox.invalid(field, 'is required'); END IF;
        RETURN;
    END IF;
    IF jsonb_typeof(value) <> 'string' THEN
        PERFORM outbox.invalid(field, 'must be a string, got ' || jsonb_typeof(value));
    END IF;
    IF required AND btrim(value #>> '{}', E' \t\r\n') = '' THEN
        PERFORM outbox.invalid(field, 'must not be empty');
    END IF;
    IF length(value #>> '{}') > max_length THEN
        PERFORM outbox.invalid(field, format('is %s characters, more than the %s allowed',
            length(value #>> '{}'), max_length));
    END IF;
END;
$$;

-- ATTACH: the BLOCKS array alone, or {ID, COLOR_TOKEN, COLOR, BLOCKS}. Each block has exactly
-- one key of a known type. Bitrix24 refuses more than 60,000 serialized characters.
CREATE FUNCTION outbox.check_attach(attach jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    blocks jsonb := attach;
    block jsonb;
    block_type text;
    body jsonb;
    item jsonb;
    n integer := 0;
BEGIN
    IF attach IS NULL OR attach = 'null'::jsonb THEN RETURN; END IF;
    IF length(attach::text) > 60000 THEN
        PERFORM outbox.invalid('ATTACH', format('is %s characters serialized, over the 60000 Bitrix24 accepts',
            length(attach::text)));
    END IF;
    IF jsonb_typeof(attach) = 'object' THEN
        IF NOT attach ? 'BLOCKS' THEN
            PERFORM outbox.invalid('ATTACH', 'an object must have BLOCKS (or pass the blocks array itself)');
        END IF;
        IF EXISTS (SELECT 1 FROM jsonb_object_keys(attach) k WHERE k NOT IN ('ID', 'COLOR_TOKEN', 'COLOR', 'BLOCKS')) THEN
            PERFORM outbox.invalid('ATTACH', 'allowed keys are ID, COLOR_TOKEN, COLOR and BLOCKS');
        END IF;
        IF attach ? 'COLOR_TOKEN' AND attach->>'COLOR_TOKEN' NOT IN ('primary', 'secondary', 'alert', 'base') THEN
            PERFORM outbox.invalid('ATTACH.COLOR_TOKEN', 'must be primary, secondary, alert or base');
        END IF;
        blocks := attach->'BLOCKS';
    END IF;
    IF jsonb_typeof(blocks) <> 'array' OR jsonb_array_length(blocks) = 0 THEN
        PERFORM outbox.invalid('ATTACH', 'BLOCKS must be a non-empty array of blocks');
    END IF;
    FOR block IN SELECT value FROM jsonb_array_elements(blocks) LOOP
        n := n + 1;
        IF jsonb_typeof(block) <> 'object' OR (SELECT count(*) FROM jsonb_object_keys(block)) <> 1 THEN
            PERFORM outbox.invalid(format('ATTACH block %s', n), 'must be an object with exactly one key');
        END IF;
        block_type := (SELECT k FROM jsonb_object_keys(block) k);
        body := block->block_type;
        CASE block_type
        WHEN 'MESSAGE' THEN
            IF jsonb_typeof(body) <> 'string' THEN
                PERFORM outbox.invalid(format('ATTACH block %s MESSAGE', n), 'must be a string');
            END IF;
        WHEN 'LINK', 'USER', 'DELIMITER' THEN
            IF jsonb_typeof(body) <> 'object' THEN
                PERFORM outbox.invalid(format('ATTACH block %s %s', n, block_type), 'must be an object');
            END IF;
            IF block_type = 'LINK' AND coalesce(body->>'LINK', '') = '' THEN
                PERFORM outbox.invalid(format('ATTACH block %s LINK', n), 'needs LINK (the URL)');
            END IF;
            IF block_type = 'USER' AND coalesce(body->>'NAME', '') = '' THEN
                PERFORM outbox.invalid(format('ATTACH block %s USER', n), 'needs NAME');
            END IF;
        WHEN 'GRID', 'IMAGE', 'FILE' THEN
            IF jsonb_typeof(body) = 'object' THEN body := jsonb_build_array(body); END IF;
            IF jsonb_typeof(body) <> 'array' OR jsonb_array_length(body) = 0 THEN
                PERFORM outbox.invalid(format('ATTACH block %s %s', n, block_type), 'must be a non-empty array');
            END IF;
            FOR item IN SELECT value FROM jsonb_array_elements(body) LOOP
                IF jsonb_typeof(item) <> 'object' THEN
                    PERFORM outbox.invalid(format('ATTACH block %s %s', n, block_type), 'items must be objects');
                END IF;
                IF block_type = 'GRID' AND coalesce(item->>'DISPLAY', '') NOT IN ('BLOCK', 'LINE', 'ROW', 'TABLE') THEN
                    PERFORM outbox.invalid(format('ATTACH block %s GRID', n), 'DISPLAY must be BLOCK, LINE, ROW or TABLE');
                END IF;
                IF block_type IN ('IMAGE', 'FILE') AND coalesce(item->>'LINK', '') = '' THEN
                    PERFORM outbox.invalid(format('ATTACH block %s %s', n, block_type), 'each item needs LINK');
                END IF;
            END LOOP;
        ELSE
            PERFORM outbox.invalid(format('ATTACH block %s', n), format(
                'unknown block type %s (known: MESSAGE, LINK, USER, GRID, IMAGE, FILE, DELIMITER)',
                left(block_type, 40)));
        END CASE;
    END LOOP;
END;
$$;

CREATE FUNCTION outbox.check_notification(payload jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    unknown text;
BEGIN
    SELECT string_agg(k, ', ') INTO unknown FROM jsonb_object_keys(payload) k
     WHERE k NOT IN ('USER_ID', 'MESSAGE', 'MESSAGE_OUT', 'TAG', 'SUB_TAG', 'ATTACH');
    IF unknown IS NOT NULL THEN
        PERFORM outbox.invalid(left(unknown, 60), 'unknown field; a notification takes USER_ID, MESSAGE, MESSAGE_OUT, TAG, SUB_TAG, ATTACH');
    END IF;
    PERFORM outbox.check_id('USER_ID', payload->'USER_ID');
    PERFORM outbox.check_text('MESSAGE', payload->'MESSAGE', true, 20000);
    PERFORM outbox.check_text('MESSAGE_OUT', payload->'MESSAGE_OUT', false, 20000);
    PERFORM outbox.check_text('TAG', payload->'TAG', false, 200);
    PERFORM outbox.check_text('SUB_TAG', payload->'SUB_TAG', false, 200);
    PERFORM outbox.check_attach(payload->'ATTACH');
END;
$$;

CREATE FUNCTION outbox.check_chat(payload jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    unknown text;
    user_id jsonb;
BEGIN
    IF payload ? 'OWNER_ID' THEN
        PERFORM outbox.invalid('OWNER_ID', 'is ignored by current Bitrix24 portals; set the owner with im.chat.setOwner');
    END IF;
    SELECT string_agg(k, ', ') INTO unknown FROM jsonb_object_keys(payload) k
     WHERE k NOT IN ('TYPE', 'TITLE', 'DESCRIPTION', 'COLOR', 'MESSAGE', 'USERS', 'AVATAR', 'ENTITY_TYPE', 'ENTITY_ID');
    IF unknown IS NOT NULL THEN
        PERFORM outbox.invalid(left(unknown, 60), 'unknown field; a chat takes TYPE, TITLE, DESCRIPTION, COLOR, MESSAGE, USERS, AVATAR, ENTITY_TYPE, ENTITY_ID');
    END IF;
    IF payload ? 'TYPE' AND payload->>'TYPE' NOT IN ('OPEN', 'CHAT') THEN
        PERFORM outbox.invalid('TYPE', 'must be OPEN or CHAT');
    END IF;
    PERFORM outbox.check_text('TITLE', payload->'TITLE', false, 255);
    PERFORM outbox.check_text('DESCRIPTION', payload->'DESCRIPTION', false, 20000);
    PERFORM outbox.check_text('MESSAGE', payload->'MESSAGE', false, 20000);
    PERFORM outbox.check_text('AVATAR', payload->'AVATAR', false, 10000000);
    PERFORM outbox.check_text('ENTITY_TYPE', payload->'ENTITY_TYPE', false, 50);
    PERFORM outbox.check_text('ENTITY_ID', payload->'ENTITY_ID', false, 255);
    IF payload ? 'COLOR' AND payload->>'COLOR' NOT IN ('RED', 'GREEN', 'MINT', 'LIGHT_BLUE', 'DARK_BLUE',
        'PURPLE', 'AQUA', 'PINK', 'LIME', 'BROWN', 'AZURE', 'KHAKI', 'SAND', 'MARENGO', 'GRAY', 'GRAPHITE') THEN
        PERFORM outbox.invalid('COLOR', 'must be one of RED GREEN MINT LIGHT_BLUE DARK_BLUE PURPLE AQUA PINK LIME BROWN AZURE KHAKI SAND MARENGO GRAY GRAPHITE');
    END IF;
    IF payload ? 'USERS' THEN
        IF jsonb_typeof(payload->'USERS') <> 'array' THEN
            PERFORM outbox.invalid('USERS', 'must be an array of user ids');
        END IF;
        FOR user_id IN SELECT value FROM jsonb_array_elements(payload->'USERS') LOOP
            PERFORM outbox.check_id('USERS', user_id);
        END LOOP;
    END IF;
    IF (payload ? 'ENTITY_TYPE') <> (payload ? 'ENTITY_ID') THEN
        PERFORM outbox.invalid('ENTITY_ID', 'ENTITY_TYPE and ENTITY_ID go together');
    END IF;
END;
$$;

-- The one enqueue path. Returns the intent id; a repeated (portal, kind, key) returns the
-- existing id and writes nothing. Without a key, one is derived from the intent itself.
-- Notifications always carry a TAG (the producer's or one derived from the key), chats an
-- ENTITY_TYPE/ENTITY_ID pair, so that retries replace or find instead of duplicating.
CREATE FUNCTION outbox.enqueue(
    p_portal text, p_kind text, p_payload jsonb,
    p_key text DEFAULT NULL, p_not_before timestamptz DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_portal_id bigint;
    v_payload jsonb := p_payload;
    v_key text := p_key;
    v_id bigint;
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
        IF v_key IS NULL AND v_payload ? 'ENTITY_TYPE' THEN
            v_key := left((v_payload->>'ENTITY_TYPE') || ':' || (v_payload->>'ENTITY_ID'), 200);
        END IF;
        v_key := coalesce(v_key, 'auto:' || md5(p_kind || v_payload::text));
        IF NOT v_payload ? 'ENTITY_TYPE' THEN
            v_payload := v_payload || jsonb_build_object('ENTITY_TYPE', 'B24OUTBOX', 'ENTITY_ID', v_key);
        END IF;
    ELSE
        PERFORM outbox.check_notification(v_payload);
        v_key := coalesce(v_key, 'auto:' || md5(p_kind || v_payload::text));
        IF NOT v_payload ? 'TAG' THEN
            v_payload := v_payload || jsonb_build_object('TAG', 'b24o:' || md5(p_kind || ':' || v_key));
        END IF;
    END IF;

    INSERT INTO outbox.intents (portal_id, kind, payload, idempotency_key, next_attempt_at)
    VALUES (v_portal_id, p_kind, v_payload, v_key, coalesce(p_not_before, now()))
    ON CONFLICT (portal_id, kind, idempotency_key) DO NOTHING
    RETURNING id INTO v_id;

    IF v_id IS NULL THEN
        SELECT id INTO v_id FROM outbox.intents
         WHERE portal_id = v_portal_id AND kind = p_kind AND idempotency_key = v_key;
        RETURN v_id;
    END IF;

    INSERT INTO outbox.log (stream, type, intent_id, portal_id, data)
    VALUES ('intent-' || v_id, 'intent.enqueued', v_id, v_portal_id, jsonb_build_object(
        'kind', p_kind, 'key', v_key, 'payload', v_payload,
        'not_before', coalesce(p_not_before, now())));
    -- Wakes listening workers when the producer's transaction commits.
    PERFORM pg_notify('outbox_intents', v_portal_id::text);
    RETURN v_id;
END;
$$;

CREATE FUNCTION outbox.enqueue_notification(
    p_portal text, p_user_id bigint, p_message text,
    p_tag text DEFAULT NULL, p_attach jsonb DEFAULT NULL, p_key text DEFAULT NULL,
    p_not_before timestamptz DEFAULT NULL, p_system boolean DEFAULT false,
    p_message_out text DEFAULT NULL, p_sub_tag text DEFAULT NULL
) RETURNS bigint
LANGUAGE sql AS $$
    SELECT outbox.enqueue(
        p_portal,
        CASE WHEN p_system THEN 'notify.system' ELSE 'notify.personal' END,
        jsonb_strip_nulls(jsonb_build_object(
            'USER_ID', p_user_id, 'MESSAGE', p_message, 'MESSAGE_OUT', p_message_out,
            'TAG', p_tag, 'SUB_TAG', p_sub_tag))
        || CASE WHEN p_attach IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('ATTACH', p_attach) END,
        p_key, p_not_before);
$$;

CREATE FUNCTION outbox.enqueue_chat(
    p_portal text, p_fields jsonb, p_key text DEFAULT NULL, p_not_before timestamptz DEFAULT NULL
) RETURNS bigint
LANGUAGE sql AS $$
    SELECT outbox.enqueue(p_portal, 'chat.create', p_fields, p_key, p_not_before);
$$;

-- Many intents in one statement (all or none); ids come back in input order.
CREATE FUNCTION outbox.enqueue_many(
    p_portals text[], p_kinds text[], p_payloads jsonb[], p_keys text[], p_not_before timestamptz[]
) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(cardinality(p_kinds), 0);
BEGIN
    IF cardinality(p_portals) <> n OR cardinality(p_payloads) <> n
       OR cardinality(p_keys) <> n OR cardinality(p_not_before) <> n THEN
        PERFORM outbox.invalid('intents', 'every array must have one element per intent');
    END IF;
    FOR i IN 1..n LOOP
        PERFORM set_config('outbox.enqueue_item', i::text, true);
        RETURN NEXT outbox.enqueue(p_portals[i], p_kinds[i], p_payloads[i], p_keys[i], p_not_before[i]);
    END LOOP;
    PERFORM set_config('outbox.enqueue_item', '', true);
END;
$$;
