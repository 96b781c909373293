-- A notification whose TAG is JSON null gets a derived TAG, as one without TAG does. Before,
-- `payload ? 'TAG'` held for the null, so it was stored without a TAG and a retry after an
-- ambiguous failure could show it twice. The checks already read a null TAG as no TAG.
--
-- outbox.enqueue stays the one entry point (the SQL wrappers, the bulk function's
-- item-by-item path and the Swift API all call it by name); the body it had becomes
-- outbox.enqueue_normalized, reached only through it.
ALTER FUNCTION outbox.enqueue(text, text, jsonb, text, timestamptz) RENAME TO enqueue_normalized;
REVOKE EXECUTE ON FUNCTION outbox.enqueue_normalized(text, text, jsonb, text, timestamptz)
    FROM b24outbox_producer, b24outbox_worker;

CREATE FUNCTION outbox.enqueue(
    p_portal text, p_kind text, p_payload jsonb,
    p_key text DEFAULT NULL, p_not_before timestamptz DEFAULT NULL
) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT outbox.enqueue_normalized(
        p_portal, p_kind,
        CASE WHEN p_kind IN ('notify.personal', 'notify.system') AND jsonb_typeof(p_payload) = 'object'
                  AND p_payload->'TAG' = 'null'::jsonb
             THEN p_payload - 'TAG' ELSE p_payload END,
        p_key, p_not_before);
$$;
GRANT EXECUTE ON FUNCTION outbox.enqueue(text, text, jsonb, text, timestamptz)
    TO b24outbox_producer, b24outbox_worker;
