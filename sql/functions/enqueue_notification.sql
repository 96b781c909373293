CREATE OR REPLACE FUNCTION outbox.enqueue_notification(p_portal text, p_user_id bigint, p_message text, p_tag text DEFAULT NULL::text, p_attach jsonb DEFAULT NULL::jsonb, p_key text DEFAULT NULL::text, p_not_before timestamp with time zone DEFAULT NULL::timestamp with time zone, p_system boolean DEFAULT false, p_message_out text DEFAULT NULL::text, p_sub_tag text DEFAULT NULL::text)
 RETURNS bigint
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT outbox.enqueue(
        p_portal,
        CASE WHEN p_system THEN 'notify.system' ELSE 'notify.personal' END,
        jsonb_strip_nulls(jsonb_build_object(
            'USER_ID', p_user_id, 'MESSAGE', p_message, 'MESSAGE_OUT', p_message_out,
            'TAG', p_tag, 'SUB_TAG', p_sub_tag))
        || CASE WHEN p_attach IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('ATTACH', p_attach) END,
        p_key, p_not_before);
$function$;

REVOKE ALL ON FUNCTION outbox.enqueue_notification(text,bigint,text,text,jsonb,text,timestamp with time zone,boolean,text,text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.enqueue_notification(text,bigint,text,text,jsonb,text,timestamp with time zone,boolean,text,text) TO b24outbox_producer, b24outbox_worker;
