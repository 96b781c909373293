-- Every intent belongs to an existing portal, checked once per statement instead of once per
-- row. The foreign key ran a lookup and a row lock per inserted intent, a tenth of the
-- database's work in a bulk enqueue; this does the same for the whole statement at once.
--
-- The guarantee is the foreign key's:
-- - an insert locks each of its portals FOR KEY SHARE until it commits (as the key did per row),
--   and fails with foreign_key_violation when one does not exist;
-- - removing a portal that still has intents fails with foreign_key_violation; a removal waits
--   for inserts in flight to its portal, then sees their intents. That check reads the latest
--   committed intents only under READ COMMITTED, so a removal under a stricter isolation level,
--   whose snapshot could predate an enqueue it waited for, is refused outright;
-- - an intent never moves to another portal, and a portal's id never changes;
-- - TRUNCATE of the portals is refused while any intent exists (it used to cascade to them).
ALTER TABLE outbox.intents DROP CONSTRAINT intents_portal_id_fkey;

CREATE FUNCTION outbox.check_new_intents_portals() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_missing bigint;
BEGIN
    PERFORM 1 FROM outbox.portals p
     WHERE p.id IN (SELECT DISTINCT portal_id FROM new_intents)
       FOR KEY SHARE OF p;
    -- A new snapshot: a portal removed while the lock above waited is gone here.
    SELECT n.portal_id INTO v_missing FROM new_intents n
     WHERE NOT EXISTS (SELECT 1 FROM outbox.portals p WHERE p.id = n.portal_id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'intent refers to portal %, which does not exist', v_missing
            USING ERRCODE = 'foreign_key_violation', TABLE = 'intents', COLUMN = 'portal_id';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER intents_portal_exists
    AFTER INSERT ON outbox.intents
    REFERENCING NEW TABLE AS new_intents
    FOR EACH STATEMENT EXECUTE FUNCTION outbox.check_new_intents_portals();

CREATE FUNCTION outbox.refuse_intent_move() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'intent % cannot move from portal % to portal %', OLD.id, OLD.portal_id, NEW.portal_id
        USING ERRCODE = 'foreign_key_violation', TABLE = 'intents', COLUMN = 'portal_id';
END;
$$;

-- Fires only for statements that set portal_id, so the claim and the record pay nothing.
CREATE TRIGGER intents_portal_fixed
    BEFORE UPDATE OF portal_id ON outbox.intents
    FOR EACH ROW WHEN (OLD.portal_id IS DISTINCT FROM NEW.portal_id)
    EXECUTE FUNCTION outbox.refuse_intent_move();

CREATE FUNCTION outbox.refuse_portal_with_intents() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'portals are removed only under READ COMMITTED, not %',
                        current_setting('transaction_isolation')
            USING ERRCODE = 'object_not_in_prerequisite_state', TABLE = 'portals',
                  HINT = 'Under a stricter isolation level the check could miss intents enqueued while it waited.';
    END IF;
    IF EXISTS (SELECT 1 FROM outbox.intents WHERE portal_id = OLD.id) THEN
        RAISE EXCEPTION 'portal % still has intents', OLD.name
            USING ERRCODE = 'foreign_key_violation', TABLE = 'portals',
                  HINT = 'Their audit trail needs the portal; it stays.';
    END IF;
    RETURN OLD;
END;
$$;

CREATE TRIGGER portals_keep_intents
    BEFORE DELETE ON outbox.portals
    FOR EACH ROW EXECUTE FUNCTION outbox.refuse_portal_with_intents();

CREATE FUNCTION outbox.refuse_portal_id_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the id of portal % cannot change', OLD.name
        USING ERRCODE = 'foreign_key_violation', TABLE = 'portals', COLUMN = 'id';
END;
$$;

CREATE TRIGGER portals_id_fixed
    BEFORE UPDATE OF id ON outbox.portals
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION outbox.refuse_portal_id_change();

CREATE FUNCTION outbox.refuse_portals_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM outbox.intents) THEN
        RAISE EXCEPTION 'outbox.portals cannot be truncated while intents exist'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'portals';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER portals_no_truncate_with_intents
    BEFORE TRUNCATE ON outbox.portals
    FOR EACH STATEMENT EXECUTE FUNCTION outbox.refuse_portals_truncate();
