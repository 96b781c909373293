-- The entity types that Bitrix24's own modules (open lines, CRM, tasks, groups, calendar, calls,
-- mail, support, announcements…) give the chats they make.
CREATE OR REPLACE FUNCTION outbox.bitrix24_entity_types()
 RETURNS text[]
 LANGUAGE sql
 IMMUTABLE
AS $function$
    SELECT ARRAY['ANNOUNCEMENT', 'CALENDAR', 'CALL', 'COLLAB', 'COPILOT', 'CRM', 'GENERAL', 'GENERAL_CHANNEL',
                 'IMOPENLINES', 'LINES', 'LIVECHAT', 'MAIL', 'MEETING', 'NETWORK_DIALOG', 'SONET', 'SONET_GROUP',
                 'SUPPORT24_NOTIFIER', 'SUPPORT24_QUESTION', 'TASKS', 'TASKS_TASK', 'THREAD', 'VIDEOCONF']
$function$;

REVOKE ALL ON FUNCTION outbox.bitrix24_entity_types() FROM PUBLIC;
