-- An intent's idempotency key stays unique per portal and kind; the index that says so moves
-- off outbox.intents. There it took a new entry at every update of an intent (the claim, the
-- record: status is in the partial indexes, so no update of an intent is HOT), and each entry
-- was checked against the row's older versions: two unique insertions per delivery, for a key
-- that never changes, about a tenth of the database's work in a drain.
--
-- outbox.intent_keys holds each key once, with the id of its intent. The enqueue functions
-- write it first, with the id the intent will have, and create the intent only when the key was
-- new; a key seen before returns the existing id, as it did. Nothing updates it. Producers and
-- workers cannot insert into outbox.intents directly, so every intent has its key
-- (`b24outbox verify` checks it); the keys follow the intents if any are ever deleted or
-- truncated, and an intent's id, kind and key cannot change. A portal's intents are found
-- through its keys (the primary key starts with portal_id), as they were through the unique
-- index before (migration 008 relied on that).
--
-- The migration copies the existing keys under the lock it takes on outbox.intents: about two
-- seconds per million intents, during which enqueues and claims wait.
ALTER TABLE outbox.intents DROP CONSTRAINT intents_idempotency_key;

CREATE TABLE outbox.intent_keys (
    portal_id        bigint NOT NULL,
    kind             text COLLATE "C" NOT NULL,
    idempotency_key  text COLLATE "C" NOT NULL,
    intent_id        bigint NOT NULL,
    CONSTRAINT intent_keys_pkey PRIMARY KEY (portal_id, kind, idempotency_key)
);

INSERT INTO outbox.intent_keys (portal_id, kind, idempotency_key, intent_id)
SELECT portal_id, kind, idempotency_key, id FROM outbox.intents;

GRANT SELECT ON outbox.intent_keys TO b24outbox_worker, b24outbox_audit;

CREATE FUNCTION outbox.refuse_intent_key_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'intent % keeps its id, kind and idempotency key', OLD.id
        USING ERRCODE = 'restrict_violation', TABLE = 'intents';
END;
$$;

-- Fires only for statements that set id, kind or idempotency_key: the claim and the record pay nothing.
CREATE TRIGGER intents_key_fixed
    BEFORE UPDATE OF id, kind, idempotency_key ON outbox.intents
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.kind IS DISTINCT FROM NEW.kind
                       OR OLD.idempotency_key IS DISTINCT FROM NEW.idempotency_key)
    EXECUTE FUNCTION outbox.refuse_intent_key_change();

CREATE FUNCTION outbox.forget_deleted_intent_keys() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM outbox.intent_keys k USING deleted_intents d WHERE k.intent_id = d.id
       AND (k.portal_id, k.kind, k.idempotency_key) = (d.portal_id, d.kind, d.idempotency_key);
    RETURN NULL;
END;
$$;

CREATE TRIGGER intents_keys_follow_delete
    AFTER DELETE ON outbox.intents
    REFERENCING OLD TABLE AS deleted_intents
    FOR EACH STATEMENT EXECUTE FUNCTION outbox.forget_deleted_intent_keys();

CREATE FUNCTION outbox.forget_all_intent_keys() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    TRUNCATE outbox.intent_keys;
    RETURN NULL;
END;
$$;

CREATE TRIGGER intents_keys_follow_truncate
    AFTER TRUNCATE ON outbox.intents
    FOR EACH STATEMENT EXECUTE FUNCTION outbox.forget_all_intent_keys();

-- Even under session_replication_role = replica, which skips ordinary triggers.
ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_keys_follow_delete;
ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_keys_follow_truncate;

-- A portal keeps its intents (migration 010): asked of its keys, through their primary key, not
-- by scanning every intent while the portal is locked.
CREATE OR REPLACE FUNCTION outbox.refuse_portal_with_intents() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'portals are removed only under READ COMMITTED, not %',
                        current_setting('transaction_isolation')
            USING ERRCODE = 'object_not_in_prerequisite_state', TABLE = 'portals',
                  HINT = 'Under a stricter isolation level the check could miss intents enqueued while it waited.';
    END IF;
    IF EXISTS (SELECT 1 FROM outbox.intent_keys WHERE portal_id = OLD.id) THEN
        RAISE EXCEPTION 'portal % still has intents', OLD.name
            USING ERRCODE = 'foreign_key_violation', TABLE = 'portals',
                  HINT = 'Their audit trail needs the portal; it stays.';
    END IF;
    RETURN OLD;
END;
$$;

-- The portal check of outbox.intents (migration 010) asks once per portal of the statement, not
-- once per intent: a bulk enqueue names one portal a thousand times.
CREATE OR REPLACE FUNCTION outbox.check_new_intents_portals() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_portals bigint[];
    v_missing bigint;
BEGIN
    SELECT array_agg(DISTINCT portal_id) INTO v_portals FROM new_intents;
    PERFORM 1 FROM outbox.portals p WHERE p.id = ANY (v_portals) FOR KEY SHARE OF p;
    -- A new snapshot: a portal removed while the lock above waited is gone here.
    SELECT n INTO v_missing FROM unnest(v_portals) AS n
     WHERE NOT EXISTS (SELECT 1 FROM outbox.portals p WHERE p.id = n)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'intent refers to portal %, which does not exist', v_missing
            USING ERRCODE = 'foreign_key_violation', TABLE = 'intents', COLUMN = 'portal_id';
    END IF;
    RETURN NULL;
END;
$$;

-- One intent: its key first, then the intent under the id the key was given.
CREATE OR REPLACE FUNCTION outbox.enqueue_normalized(
    p_portal text, p_kind text, p_payload jsonb,
    p_key text DEFAULT NULL, p_not_before timestamptz DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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

CREATE OR REPLACE FUNCTION outbox.enqueue_many(
    p_portals text[], p_kinds text[], p_payloads jsonb[], p_keys text[], p_not_before timestamptz[]
) RETURNS SETOF bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer := coalesce(cardinality(p_kinds), 0);
    v_ids bigint[];
    v_touched bigint[];
    v_id bigint;
BEGIN
    IF coalesce(cardinality(p_portals), 0) <> n OR coalesce(cardinality(p_payloads), 0) <> n
       OR coalesce(cardinality(p_keys), 0) <> n OR coalesce(cardinality(p_not_before), 0) <> n THEN
        PERFORM outbox.invalid('intents', 'every array must have one element per intent');
    END IF;
    IF n = 0 THEN
        RETURN;
    END IF;

    -- Only plain lists numbered from 1: unnest and subscripts would read any other array (2-D,
    -- or with other bounds) differently.
    IF array_ndims(p_portals) > 1 OR array_ndims(p_kinds) > 1 OR array_ndims(p_payloads) > 1
       OR array_ndims(p_keys) > 1 OR array_ndims(p_not_before) > 1
       OR array_lower(p_portals, 1) <> 1 OR array_lower(p_kinds, 1) <> 1 OR array_lower(p_payloads, 1) <> 1
       OR array_lower(p_keys, 1) <> 1 OR array_lower(p_not_before, 1) <> 1 THEN
        PERFORM outbox.invalid('intents', 'every array must be a plain list, numbered from 1');
    END IF;

    IF EXISTS (
        SELECT 1
          FROM unnest(p_portals, p_kinds, p_payloads, p_keys) AS t(portal, kind, payload, key)
          LEFT JOIN outbox.portals p ON p.name = t.portal
         WHERE p.id IS NULL OR NOT outbox.is_plain_notification(t.kind, t.payload, t.key)
    ) THEN
        -- Item by item: every rule, and the failing item named in the error.
        FOR i IN 1..n LOOP
            PERFORM set_config('outbox.enqueue_item', i::text, true);
            RETURN NEXT outbox.enqueue(p_portals[i], p_kinds[i], p_payloads[i], p_keys[i], p_not_before[i]);
        END LOOP;
        PERFORM set_config('outbox.enqueue_item', '', true);
        RETURN;
    END IF;

    -- Set-based: keys and TAGs derived as outbox.enqueue derives them. Each item gets an id in
    -- input order (nextval runs after the sort); the keys that were new keep theirs, and only
    -- their intents are created. A key seen before (in the table or earlier in this call)
    -- returns the existing id and writes nothing.
    WITH item AS (
        SELECT t.ord, p.id AS portal_id, t.kind, t.payload,
               coalesce(t.key, 'auto:' || md5(t.kind || t.payload::text)) AS key,
               coalesce(t.not_before, now()) AS not_before
          FROM unnest(p_portals, p_kinds, p_payloads, p_keys, p_not_before)
               WITH ORDINALITY AS t(portal, kind, payload, key, not_before, ord)
          JOIN outbox.portals p ON p.name = t.portal
    ), prepared AS (
        SELECT ord, portal_id, kind, key, not_before,
               CASE WHEN payload ? 'TAG' THEN payload
                    ELSE payload || jsonb_build_object('TAG', 'b24o:' || md5(kind || ':' || key)) END AS payload,
               nextval('outbox.intents_id_seq') AS id
          FROM item ORDER BY ord
    ), keyed AS (
        INSERT INTO outbox.intent_keys (portal_id, kind, idempotency_key, intent_id)
        SELECT portal_id, kind, key, id FROM prepared ORDER BY ord
        ON CONFLICT DO NOTHING
        RETURNING intent_id
    ), inserted AS (
        INSERT INTO outbox.intents (id, portal_id, kind, payload, idempotency_key, next_attempt_at)
        OVERRIDING SYSTEM VALUE
        SELECT id, portal_id, kind, payload, key, not_before FROM prepared
         WHERE id IN (SELECT intent_id FROM keyed) ORDER BY id
        RETURNING id, portal_id, kind, idempotency_key, payload, next_attempt_at
    ), logged AS (
        INSERT INTO outbox.log (stream, type, intent_id, portal_id, data)
        SELECT 'intent-' || id, 'intent.enqueued', id, portal_id, jsonb_build_object(
                   'kind', kind, 'key', idempotency_key, 'payload', payload, 'not_before', next_attempt_at)
          FROM inserted ORDER BY id
    )
    -- COALESCE evaluates the lookup of an existing intent only for an item that inserted nothing.
    SELECT array_agg(coalesce(ins.id, (
               SELECT e.intent_id FROM outbox.intent_keys e
                WHERE (e.portal_id, e.kind, e.idempotency_key) = (pr.portal_id, pr.kind, pr.key)))
             ORDER BY pr.ord),
           (SELECT array_agg(DISTINCT portal_id) FROM inserted)
      INTO v_ids, v_touched
      FROM prepared pr
      LEFT JOIN inserted ins ON ins.id = pr.id;

    -- A key committed by a concurrent producer while this statement waited on it, or taken
    -- earlier in this call, is not in the statement's snapshot; a new statement sees it.
    IF array_position(v_ids, NULL) IS NOT NULL THEN
        FOR i IN 1..n LOOP
            IF v_ids[i] IS NULL THEN
                SELECT k.intent_id INTO STRICT v_id FROM outbox.intent_keys k
                 WHERE k.portal_id = (SELECT p.id FROM outbox.portals p WHERE p.name = p_portals[i])
                   AND k.kind = p_kinds[i]
                   AND k.idempotency_key = coalesce(p_keys[i], 'auto:' || md5(p_kinds[i] || p_payloads[i]::text));
                v_ids[i] := v_id;
            END IF;
        END LOOP;
    END IF;

    -- Wakes listening workers when the producer's transaction commits: once per portal that got
    -- a new intent, as item by item.
    PERFORM pg_notify('outbox_intents', touched::text) FROM unnest(v_touched) AS touched;
    RETURN QUERY SELECT unnest(v_ids);
END;
$$;
