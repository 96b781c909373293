-- ATTACH: the BLOCKS array alone, or {ID, COLOR_TOKEN, COLOR, BLOCKS}. Each block has exactly
-- one key of a known type. Bitrix24 refuses more than 60,000 serialized characters.
CREATE OR REPLACE FUNCTION outbox.check_attach(attach jsonb)
 RETURNS void
 LANGUAGE plpgsql
 IMMUTABLE
AS $function$
DECLARE
    blocks jsonb := attach;
    block jsonb;
    block_type text;
    body jsonb;
    item jsonb;
    n integer := 0;
BEGIN
    IF attach IS NULL OR attach = 'null'::jsonb THEN RETURN; END IF;
    IF length(attach::text) > 60000 THEN
        PERFORM outbox.invalid('ATTACH', format('is %s characters serialized, over the 60000 Bitrix24 accepts',
            length(attach::text)));
    END IF;
    IF jsonb_typeof(attach) = 'object' THEN
        IF NOT attach ? 'BLOCKS' THEN
            PERFORM outbox.invalid('ATTACH', 'an object must have BLOCKS (or pass the blocks array itself)');
        END IF;
        IF EXISTS (SELECT 1 FROM jsonb_object_keys(attach) k WHERE k NOT IN ('ID', 'COLOR_TOKEN', 'COLOR', 'BLOCKS')) THEN
            PERFORM outbox.invalid('ATTACH', 'allowed keys are ID, COLOR_TOKEN, COLOR and BLOCKS');
        END IF;
        IF attach ? 'COLOR_TOKEN' AND attach->>'COLOR_TOKEN' NOT IN ('primary', 'secondary', 'alert', 'base') THEN
            PERFORM outbox.invalid('ATTACH.COLOR_TOKEN', 'must be primary, secondary, alert or base');
        END IF;
        blocks := attach->'BLOCKS';
    END IF;
    IF jsonb_typeof(blocks) <> 'array' OR jsonb_array_length(blocks) = 0 THEN
        PERFORM outbox.invalid('ATTACH', 'BLOCKS must be a non-empty array of blocks');
    END IF;
    FOR block IN SELECT value FROM jsonb_array_elements(blocks) LOOP
        n := n + 1;
        IF jsonb_typeof(block) <> 'object' OR (SELECT count(*) FROM jsonb_object_keys(block)) <> 1 THEN
            PERFORM outbox.invalid(format('ATTACH block %s', n), 'must be an object with exactly one key');
        END IF;
        block_type := (SELECT k FROM jsonb_object_keys(block) k);
        body := block->block_type;
        CASE block_type
        WHEN 'MESSAGE' THEN
            IF jsonb_typeof(body) <> 'string' THEN
                PERFORM outbox.invalid(format('ATTACH block %s MESSAGE', n), 'must be a string');
            END IF;
        WHEN 'LINK', 'USER', 'DELIMITER' THEN
            IF jsonb_typeof(body) <> 'object' THEN
                PERFORM outbox.invalid(format('ATTACH block %s %s', n, block_type), 'must be an object');
            END IF;
            IF block_type = 'LINK' AND coalesce(body->>'LINK', '') = '' THEN
                PERFORM outbox.invalid(format('ATTACH block %s LINK', n), 'needs LINK (the URL)');
            END IF;
            IF block_type = 'USER' AND coalesce(body->>'NAME', '') = '' THEN
                PERFORM outbox.invalid(format('ATTACH block %s USER', n), 'needs NAME');
            END IF;
        WHEN 'GRID', 'IMAGE', 'FILE' THEN
            IF jsonb_typeof(body) = 'object' THEN body := jsonb_build_array(body); END IF;
            IF jsonb_typeof(body) <> 'array' OR jsonb_array_length(body) = 0 THEN
                PERFORM outbox.invalid(format('ATTACH block %s %s', n, block_type), 'must be a non-empty array');
            END IF;
            FOR item IN SELECT value FROM jsonb_array_elements(body) LOOP
                IF jsonb_typeof(item) <> 'object' THEN
                    PERFORM outbox.invalid(format('ATTACH block %s %s', n, block_type), 'items must be objects');
                END IF;
                IF block_type = 'GRID' AND coalesce(item->>'DISPLAY', '') NOT IN ('BLOCK', 'LINE', 'ROW', 'TABLE') THEN
                    PERFORM outbox.invalid(format('ATTACH block %s GRID', n), 'DISPLAY must be BLOCK, LINE, ROW or TABLE');
                END IF;
                IF block_type IN ('IMAGE', 'FILE') AND coalesce(item->>'LINK', '') = '' THEN
                    PERFORM outbox.invalid(format('ATTACH block %s %s', n, block_type), 'each item needs LINK');
                END IF;
            END LOOP;
        ELSE
            PERFORM outbox.invalid(format('ATTACH block %s', n), format(
                'unknown block type %s (known: MESSAGE, LINK, USER, GRID, IMAGE, FILE, DELIMITER)',
                left(block_type, 40)));
        END CASE;
    END LOOP;
END;
$function$;

REVOKE ALL ON FUNCTION outbox.check_attach(jsonb) FROM PUBLIC;
