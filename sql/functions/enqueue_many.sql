CREATE OR REPLACE FUNCTION outbox.enqueue_many(p_portals text[], p_kinds text[], p_payloads jsonb[], p_keys text[], p_not_before timestamp with time zone[])
 RETURNS SETOF bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;

REVOKE ALL ON FUNCTION outbox.enqueue_many(text[],text[],jsonb[],text[],timestamp with time zone[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.enqueue_many(text[],text[],jsonb[],text[],timestamp with time zone[]) TO b24outbox_producer, b24outbox_worker;
