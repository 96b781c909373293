-- One visible effect per intent, whatever the producer passes and whatever happens to a worker.
--
-- * An empty TAG (or one of blanks) counts as no TAG: one is derived, as for a missing one.
-- * A chat names its entity pair with both ENTITY_TYPE and ENTITY_ID, in ASCII that a portal's
--   collation compares as we do, neither empty nor "0" (PHP's empty() takes "0" for nothing, so
--   a portal cannot look such a pair up), or with neither (derived: ENTITY_TYPE B24OUTBOX).
--   Types that Bitrix24's own modules give their chats are refused: a lookup would find the
--   module's chat and record a delivery that never happened.
-- * One chat intent per (portal, entity pair), held in outbox.chat_entities: a second enqueue
--   for a pair returns the intent that holds it when the fields are the same, and is refused
--   when they differ. So creations of one pair never run side by side. Chat intents enqueued
--   before and not delivered are cancelled when another intent holds their pair or no lookup
--   can find it.
-- * A derived chat key that would pass 200 characters keeps its first 135 and a SHA-256 of the
--   whole, so long entity ids no longer share a key.
-- * Chat fields have limits that bound a worker's memory (AVATAR 1,500,000 characters, USERS
--   1,000 ids); a claim has a byte budget besides (WorkerPool.Configuration.claimBytes).
-- * outbox.intents.lease_expiries counts the leases an intent lost in a row: a claim holding
--   an intent that lost n leases takes at most claim size / 2^n intents, so a poison intent is
--   soon claimed alone, and one that loses a lease while it is all its worker pool holds (and
--   had lost two before) goes dead with LEASE_EXPIRED_REPEATEDLY instead of crashing the fleet
--   for ever (outbox.lost_workers).

-- The pair in lower case: a portal's database compares it without regard to case.
CREATE TABLE outbox.chat_entities (
    portal_id    bigint NOT NULL,
    entity_type  text COLLATE "C" NOT NULL,
    entity_id    text COLLATE "C" NOT NULL,
    intent_id    bigint NOT NULL,
    CONSTRAINT chat_entities_pkey PRIMARY KEY (portal_id, entity_type, entity_id)
);
CREATE INDEX chat_entities_intent ON outbox.chat_entities (intent_id);

-- First, so that no enqueue slips between the pairs filled in below and the new rules: one
-- that has written its key but not its intent is waited for, then later ones wait.
LOCK TABLE outbox.intent_keys IN EXCLUSIVE MODE;
ALTER TABLE outbox.intents ADD COLUMN lease_expiries integer NOT NULL DEFAULT 0 CHECK (lease_expiries >= 0);

-- Existing chats: of each pair's intents, the one furthest along holds it (delivered, then in
-- flight, pending, dead, cancelled), the oldest among equals.
INSERT INTO outbox.chat_entities (portal_id, entity_type, entity_id, intent_id)
SELECT DISTINCT ON (portal_id, lower(payload->>'ENTITY_TYPE'), lower(payload->>'ENTITY_ID'))
       portal_id, lower(payload->>'ENTITY_TYPE'), lower(payload->>'ENTITY_ID'), id
  FROM outbox.intents
 WHERE kind = 'chat.create' AND payload->>'ENTITY_TYPE' IS NOT NULL AND payload->>'ENTITY_ID' IS NOT NULL
 ORDER BY portal_id, lower(payload->>'ENTITY_TYPE'), lower(payload->>'ENTITY_ID'),
          array_position(ARRAY['delivered', 'claimed', 'pending', 'dead', 'cancelled'], status), id;

-- Chats not delivered and not in flight that, sent, could make a second chat: another intent
-- holds their pair, or their pair cannot be looked up at all (missing, null, "" or "0", which
-- the rules before accepted). They are cancelled, each with the entry that says why.
WITH chosen AS (
    SELECT i.id, i.status AS previous,
           CASE WHEN c.intent_id IS NULL OR c.intent_id = i.id THEN 'its entity pair cannot be looked up'
                ELSE format('intent %s holds its entity pair', c.intent_id) END AS reason
      FROM outbox.intents i
      LEFT JOIN outbox.chat_entities c
        ON c.portal_id = i.portal_id AND c.entity_type = lower(i.payload->>'ENTITY_TYPE')
       AND c.entity_id = lower(i.payload->>'ENTITY_ID')
     WHERE i.kind = 'chat.create' AND i.status IN ('pending', 'dead')
       AND (c.intent_id IS DISTINCT FROM i.id
            OR btrim(i.payload->>'ENTITY_TYPE') IN ('', '0') OR btrim(i.payload->>'ENTITY_ID') IN ('', '0'))
), cancelled AS (
    UPDATE outbox.intents i SET status = 'cancelled', updated_at = now()
      FROM chosen WHERE i.id = chosen.id
    RETURNING i.id, i.portal_id, chosen.previous, chosen.reason
)
INSERT INTO outbox.log (stream, type, intent_id, portal_id, data)
SELECT 'intent-' || id, 'intent.cancelled', id, portal_id,
       jsonb_build_object('by', 'migration 014_one_effect', 'previous_status', previous, 'reason', reason)
  FROM cancelled;

REVOKE ALL ON outbox.chat_entities FROM PUBLIC;
GRANT SELECT ON outbox.chat_entities TO b24outbox_worker, b24outbox_audit;

-- Worker pools whose leases were found expired, with how many intents the pool held when the
-- first of them was reaped (IntentStore.reapExpiredLeases): an intent is taken for a poison only
-- when it was all its pool held. Kept a day.
CREATE TABLE outbox.lost_workers (
    pool     text COLLATE "C" PRIMARY KEY,
    lost_at  timestamptz NOT NULL,
    held     bigint NOT NULL
);
REVOKE ALL ON outbox.lost_workers FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON outbox.lost_workers TO b24outbox_worker;
GRANT SELECT ON outbox.lost_workers TO b24outbox_audit;

-- The pairs follow deleted and truncated intents, as the keys do.
CREATE OR REPLACE FUNCTION outbox.forget_deleted_intent_keys() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM outbox.intent_keys k USING deleted_intents d WHERE k.intent_id = d.id
       AND (k.portal_id, k.kind, k.idempotency_key) = (d.portal_id, d.kind, d.idempotency_key);
    DELETE FROM outbox.chat_entities c USING deleted_intents d WHERE c.intent_id = d.id;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION outbox.forget_all_intent_keys() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    TRUNCATE outbox.intent_keys, outbox.chat_entities;
    RETURN NULL;
END;
$$;

-- Chats' limits, and the entity pair's rules.
CREATE OR REPLACE FUNCTION outbox.check_chat(payload jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    unknown text;
    user_id jsonb;
    has_type boolean := coalesce(payload->'ENTITY_TYPE', 'null'::jsonb) <> 'null'::jsonb;
    has_id boolean := coalesce(payload->'ENTITY_ID', 'null'::jsonb) <> 'null'::jsonb;
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
    PERFORM outbox.check_text('AVATAR', payload->'AVATAR', false, 1500000);
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
        IF jsonb_array_length(payload->'USERS') > 1000 THEN
            PERFORM outbox.invalid('USERS', format('has %s ids, more than the 1000 allowed', jsonb_array_length(payload->'USERS')));
        END IF;
        FOR user_id IN SELECT value FROM jsonb_array_elements(payload->'USERS') LOOP
            PERFORM outbox.check_id('USERS', user_id);
        END LOOP;
    END IF;
    IF has_type <> has_id THEN
        PERFORM outbox.invalid(CASE WHEN has_type THEN 'ENTITY_ID' ELSE 'ENTITY_TYPE' END,
            'ENTITY_TYPE and ENTITY_ID go together: give both, or neither to have them derived');
    END IF;
    IF has_type THEN
        -- What the portal's database compares as we do: ASCII (its collation ignores case,
        -- trailing blanks and accents), never empty or "0" (PHP's empty() takes it for nothing).
        IF payload->>'ENTITY_TYPE' = '0' OR payload->>'ENTITY_TYPE' !~ '^[A-Za-z0-9_]+$' THEN
            PERFORM outbox.invalid('ENTITY_TYPE',
                'must be letters, digits and _ (ASCII), not empty and not "0": Bitrix24 could not look such a chat up');
        END IF;
        IF NOT outbox.is_lookup_id(payload->>'ENTITY_ID') THEN
            PERFORM outbox.invalid('ENTITY_ID',
                'must be printable ASCII without leading or trailing blanks, not empty and not "0": Bitrix24 could not look such a chat up');
        END IF;
        IF upper(payload->>'ENTITY_TYPE') = ANY (outbox.bitrix24_entity_types()) THEN
            PERFORM outbox.invalid('ENTITY_TYPE', format(
                '%s is used by Bitrix24''s own chats; choose a type of your own (or leave the pair out to have it derived)',
                payload->>'ENTITY_TYPE'));
        END IF;
    END IF;
END;
$$;

-- An ENTITY_ID a portal finds again exactly: printable ASCII, no blank at either end (its
-- collation ignores trailing blanks, case and accents), not "0".
CREATE FUNCTION outbox.is_lookup_id(p_id text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_id IS NOT NULL AND p_id <> '0' AND p_id ~ '^[!-~]([ -~]*[!-~])?$'
$$;

-- The entity types that Bitrix24's own modules (open lines, CRM, tasks, groups, calendar, calls,
-- mail, support, announcements…) give the chats they make.
CREATE FUNCTION outbox.bitrix24_entity_types() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['ANNOUNCEMENT', 'CALENDAR', 'CALL', 'COLLAB', 'COPILOT', 'CRM', 'GENERAL', 'GENERAL_CHANNEL',
                 'IMOPENLINES', 'LINES', 'LIVECHAT', 'MAIL', 'MEETING', 'NETWORK_DIALOG', 'SONET', 'SONET_GROUP',
                 'SUPPORT24_NOTIFIER', 'SUPPORT24_QUESTION', 'TASKS', 'TASKS_TASK', 'THREAD', 'VIDEOCONF']
$$;

-- A bulk call with an empty TAG takes the item-by-item path, which derives one.
CREATE OR REPLACE FUNCTION outbox.is_plain_notification(p_kind text, p_payload jsonb, p_key text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    -- CASE, so each test runs only after the one it relies on (a cast after the type test).
    SELECT CASE
        WHEN p_kind IS NULL OR p_kind NOT IN ('notify.personal', 'notify.system') THEN false
        WHEN p_payload IS NULL OR jsonb_typeof(p_payload) <> 'object' THEN false
        WHEN p_payload - 'USER_ID' - 'MESSAGE' - 'TAG' <> '{}'::jsonb THEN false
        WHEN jsonb_typeof(p_payload->'USER_ID') IS DISTINCT FROM 'number' THEN false
        -- A whole number as written (1.0 has scale 1 and is refused by the rules, as 1e3 is not).
        WHEN scale((p_payload->'USER_ID')::numeric) <> 0 THEN false
        WHEN (p_payload->'USER_ID')::numeric NOT BETWEEN 1 AND 2147483647 THEN false
        WHEN jsonb_typeof(p_payload->'MESSAGE') IS DISTINCT FROM 'string' THEN false
        WHEN length(p_payload->>'MESSAGE') > 20000 THEN false
        WHEN btrim(p_payload->>'MESSAGE', E' \t\r\n') = '' THEN false
        WHEN p_payload ? 'TAG' AND (jsonb_typeof(p_payload->'TAG') <> 'string' OR length(p_payload->>'TAG') > 200) THEN false
        WHEN p_payload ? 'TAG' AND btrim(p_payload->>'TAG', E' \t\r\n') = '' THEN false
        WHEN p_key IS NOT NULL AND (length(p_key) NOT BETWEEN 1 AND 200 OR p_key ~ '[[:cntrl:]]') THEN false
        ELSE true
    END;
$$;

-- One intent: its key first, then (for a chat) its entity pair, then the intent under the id
-- the key was given.
CREATE OR REPLACE FUNCTION outbox.enqueue_normalized(
    p_portal text, p_kind text, p_payload jsonb,
    p_key text DEFAULT NULL, p_not_before timestamptz DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
$$;

REVOKE ALL ON FUNCTION outbox.bitrix24_entity_types(), outbox.is_lookup_id(text) FROM PUBLIC;
