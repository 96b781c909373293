CREATE OR REPLACE FUNCTION outbox.enqueue(p_portal text, p_kind text, p_payload jsonb, p_key text DEFAULT NULL::text, p_not_before timestamp with time zone DEFAULT NULL::timestamp with time zone)
 RETURNS bigint
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT outbox.enqueue_normalized(
        p_portal, p_kind,
        CASE WHEN p_kind IN ('notify.personal', 'notify.system') AND jsonb_typeof(p_payload) = 'object'
                  AND p_payload->'TAG' = 'null'::jsonb
             THEN p_payload - 'TAG' ELSE p_payload END,
        p_key, p_not_before);
$function$;

REVOKE ALL ON FUNCTION outbox.enqueue(text,text,jsonb,text,timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.enqueue(text,text,jsonb,text,timestamp with time zone) TO b24outbox_producer, b24outbox_worker;
