CREATE OR REPLACE FUNCTION outbox.enqueue_chat(p_portal text, p_fields jsonb, p_key text DEFAULT NULL::text, p_not_before timestamp with time zone DEFAULT NULL::timestamp with time zone)
 RETURNS bigint
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT outbox.enqueue(p_portal, 'chat.create', p_fields, p_key, p_not_before);
$function$;

REVOKE ALL ON FUNCTION outbox.enqueue_chat(text,jsonb,text,timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.enqueue_chat(text,jsonb,text,timestamp with time zone) TO b24outbox_producer, b24outbox_worker;
