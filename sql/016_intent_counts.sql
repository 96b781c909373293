-- Intents per status, kept by the database as intents change, so a /metrics scrape reads a
-- few rows instead of counting a table that grows with every delivery.
--
-- * Statement triggers with transition tables add one row per status a statement changed,
--   not one per intent; an UPDATE that changes no status (a lease renewal) writes nothing.
--   (PostgreSQL allows no column list, UPDATE OF status, on a trigger with transition tables.)
-- * Each backend adds to rows of its own (slot = its pid): concurrent transactions never
--   wait for each other's counters and cannot deadlock on them, and each count commits or
--   rolls back with the change it counts.
-- * intent_totals() sums the rows, folding first the rows of backends that have ended into
--   slot 0, so the table holds a few rows per live connection.

CREATE TABLE outbox.intent_counts (
    slot   integer NOT NULL,
    status text    NOT NULL,
    n      bigint  NOT NULL,
    PRIMARY KEY (slot, status)
);

CREATE FUNCTION outbox.count_intents() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM outbox.intent_counts;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO outbox.intent_counts AS c (slot, status, n)
        SELECT pg_backend_pid(), r.status, count(*) FROM new_rows r GROUP BY r.status ORDER BY r.status
        ON CONFLICT (slot, status) DO UPDATE SET n = c.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO outbox.intent_counts AS c (slot, status, n)
        SELECT pg_backend_pid(), r.status, -count(*) FROM old_rows r GROUP BY r.status ORDER BY r.status
        ON CONFLICT (slot, status) DO UPDATE SET n = c.n + excluded.n;
    ELSE
        INSERT INTO outbox.intent_counts AS c (slot, status, n)
        SELECT pg_backend_pid(), d.status, sum(d.n)
          FROM (SELECT r.status, 1 AS n FROM new_rows r UNION ALL SELECT r.status, -1 FROM old_rows r) d
         GROUP BY d.status HAVING sum(d.n) <> 0 ORDER BY d.status
        ON CONFLICT (slot, status) DO UPDATE SET n = c.n + excluded.n;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER intents_counted_insert AFTER INSERT ON outbox.intents
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION outbox.count_intents();
CREATE TRIGGER intents_counted_update AFTER UPDATE ON outbox.intents
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION outbox.count_intents();
CREATE TRIGGER intents_counted_delete AFTER DELETE ON outbox.intents
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION outbox.count_intents();
CREATE TRIGGER intents_counted_truncate AFTER TRUNCATE ON outbox.intents
    FOR EACH STATEMENT EXECUTE FUNCTION outbox.count_intents();
-- Counted under session_replication_role = replica too (a restore, a logical replica applying
-- changes), or the counts would drift from the table.
ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_counted_insert;
ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_counted_update;
ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_counted_delete;
ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_counted_truncate;

-- The triggers hold intents against writes until this migration commits: the count below
-- and the triggers' counts from then on add up exactly.
INSERT INTO outbox.intent_counts (slot, status, n)
SELECT 0, status, count(*) FROM outbox.intents GROUP BY status;

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
    SELECT c.status, sum(c.n)::bigint FROM outbox.intent_counts c GROUP BY c.status;
$$;

GRANT SELECT ON outbox.intent_counts TO b24outbox_worker, b24outbox_audit;
GRANT EXECUTE ON FUNCTION outbox.intent_totals() TO b24outbox_worker;
