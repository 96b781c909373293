-- Bulk enqueue, set-based: one INSERT for the intents and one for their log entries, instead
-- of one call of outbox.enqueue per item.
--
-- The rules stay where they are (outbox.check_*). outbox.is_plain_notification accepts only a
-- narrow, common shape that those checks always accept: a notification with USER_ID, MESSAGE
-- and perhaps TAG, to a known portal. A call whose every item has that shape takes the
-- set-based path; any other call takes the item-by-item path, which applies every rule and
-- names the failing item, exactly as before.

CREATE FUNCTION outbox.is_plain_notification(p_kind text, p_payload jsonb, p_key text) RETURNS boolean
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
        WHEN p_key IS NOT NULL AND (length(p_key) NOT BETWEEN 1 AND 200 OR p_key ~ '[[:cntrl:]]') THEN false
        ELSE true
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

    -- Set-based: keys and TAGs derived as outbox.enqueue derives them; a key seen before (in
    -- the table or earlier in this call) returns the existing id and writes nothing.
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
                    ELSE payload || jsonb_build_object('TAG', 'b24o:' || md5(kind || ':' || key)) END AS payload
          FROM item
    ), inserted AS (
        INSERT INTO outbox.intents (portal_id, kind, payload, idempotency_key, next_attempt_at)
        SELECT portal_id, kind, payload, key, not_before FROM prepared ORDER BY ord
        ON CONFLICT (portal_id, kind, idempotency_key) DO NOTHING
        RETURNING id, portal_id, kind, idempotency_key, payload, next_attempt_at
    ), logged AS (
        INSERT INTO outbox.log (stream, type, intent_id, portal_id, data)
        SELECT 'intent-' || id, 'intent.enqueued', id, portal_id, jsonb_build_object(
                   'kind', kind, 'key', idempotency_key, 'payload', payload, 'not_before', next_attempt_at)
          FROM inserted ORDER BY id
    )
    -- COALESCE evaluates the lookup of an existing intent only for an item that inserted nothing.
    SELECT array_agg(coalesce(ins.id, (
               SELECT e.id FROM outbox.intents e
                WHERE (e.portal_id, e.kind, e.idempotency_key) = (pr.portal_id, pr.kind, pr.key)))
             ORDER BY pr.ord),
           (SELECT array_agg(DISTINCT portal_id) FROM inserted)
      INTO v_ids, v_touched
      FROM prepared pr
      LEFT JOIN inserted ins
             ON (ins.portal_id, ins.kind, ins.idempotency_key) = (pr.portal_id, pr.kind, pr.key);

    -- A key committed by a concurrent producer while this statement waited on it is not in the
    -- statement's snapshot; a new statement sees it.
    IF array_position(v_ids, NULL) IS NOT NULL THEN
        FOR i IN 1..n LOOP
            IF v_ids[i] IS NULL THEN
                SELECT c.id INTO STRICT v_id FROM outbox.intents c
                 WHERE c.portal_id = (SELECT p.id FROM outbox.portals p WHERE p.name = p_portals[i])
                   AND c.kind = p_kinds[i]
                   AND c.idempotency_key = coalesce(p_keys[i], 'auto:' || md5(p_kinds[i] || p_payloads[i]::text));
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
