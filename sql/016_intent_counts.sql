-- Intents per status for /metrics, without counting a table that grows with every delivery.
--
-- * The statuses an intent ends in, delivered and cancelled, grow with the history: the
--   database counts them as intents enter and leave them. Row triggers whose WHEN names those
--   statuses: a claim, a lease renewal or a retry changes neither and costs nothing more (the
--   WHEN is checked without calling the function); a delivery adds one to a counter row.
-- * Each backend adds to rows of its own (slot = its pid): concurrent transactions never
--   wait for each other's counters and cannot deadlock on them, and each count commits or
--   rolls back with the change it counts.
-- * The live statuses (pending, claimed, dead) are counted when asked, through their partial
--   indexes: their size is the queue's, not the history's.
-- * intent_totals() answers both, folding first the counter rows of backends that have ended
--   into slot 0, so the table holds a few rows per live connection.

CREATE TABLE outbox.intent_counts (
    slot   integer NOT NULL,
    status text    NOT NULL CHECK (status IN ('delivered', 'cancelled')),
    n      bigint  NOT NULL,
    PRIMARY KEY (slot, status)
);

CREATE FUNCTION outbox.count_finished_intents() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM outbox.intent_counts;
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' AND OLD.status IN ('delivered', 'cancelled') THEN
        INSERT INTO outbox.intent_counts AS c (slot, status, n) VALUES (pg_backend_pid(), OLD.status, -1)
        ON CONFLICT (slot, status) DO UPDATE SET n = c.n - 1;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.status IN ('delivered', 'cancelled') THEN
        INSERT INTO outbox.intent_counts AS c (slot, status, n) VALUES (pg_backend_pid(), NEW.status, 1)
        ON CONFLICT (slot, status) DO UPDATE SET n = c.n + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER intents_counted_insert AFTER INSERT ON outbox.intents FOR EACH ROW
    WHEN (NEW.status IN ('delivered', 'cancelled')) EXECUTE FUNCTION outbox.count_finished_intents();
CREATE TRIGGER intents_counted_update AFTER UPDATE OF status ON outbox.intents FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          AND (OLD.status IN ('delivered', 'cancelled') OR NEW.status IN ('delivered', 'cancelled')))
    EXECUTE FUNCTION outbox.count_finished_intents();
CREATE TRIGGER intents_counted_delete AFTER DELETE ON outbox.intents FOR EACH ROW
    WHEN (OLD.status IN ('delivered', 'cancelled')) EXECUTE FUNCTION outbox.count_finished_intents();
CREATE TRIGGER intents_counted_truncate AFTER TRUNCATE ON outbox.intents
    FOR EACH STATEMENT EXECUTE FUNCTION outbox.count_finished_intents();
-- Counted under session_replication_role = replica too (a restore, a logical replica applying
-- changes), or the counts would drift from the table.
ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_counted_insert;
ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_counted_update;
ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_counted_delete;
ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_counted_truncate;

-- The triggers hold intents against writes until this migration commits: the count below
-- and the triggers' counts from then on add up exactly.
INSERT INTO outbox.intent_counts (slot, status, n)
SELECT 0, status, count(*) FROM outbox.intents WHERE status IN ('delivered', 'cancelled') GROUP BY status;

-- Moving a row's count into slot 0 is right whenever it happens; ended backends are chosen
-- only so that a fold never waits on a row a live transaction holds.
CREATE FUNCTION outbox.intent_totals() RETURNS TABLE (status text, n bigint)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH ended AS (
        DELETE FROM outbox.intent_counts c
         WHERE c.slot <> 0 AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = c.slot)
        RETURNING c.status, c.n
    )
    INSERT INTO outbox.intent_counts AS c (slot, status, n)
    SELECT 0, e.status, sum(e.n) FROM ended e GROUP BY e.status ORDER BY e.status
    ON CONFLICT (slot, status) DO UPDATE SET n = c.n + excluded.n;
    SELECT c.status, sum(c.n)::bigint FROM outbox.intent_counts c GROUP BY c.status
    UNION ALL SELECT 'pending', count(*) FROM outbox.intents i WHERE i.status = 'pending'
    UNION ALL SELECT 'claimed', count(*) FROM outbox.intents i WHERE i.status = 'claimed'
    UNION ALL SELECT 'dead', count(*) FROM outbox.intents i WHERE i.status = 'dead';
$$;

GRANT SELECT ON outbox.intent_counts TO b24outbox_worker, b24outbox_audit;
GRANT EXECUTE ON FUNCTION outbox.intent_totals() TO b24outbox_worker;
