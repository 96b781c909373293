-- Chats' limits, and the entity pair's rules.
CREATE OR REPLACE FUNCTION outbox.check_chat(payload jsonb)
 RETURNS void
 LANGUAGE plpgsql
 IMMUTABLE
AS $function$
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
$function$;

REVOKE ALL ON FUNCTION outbox.check_chat(jsonb) FROM PUBLIC;
