-- Log retention: outbox.log becomes RANGE-partitioned by month of recorded_at (UTC months,
-- outbox.log_YYYY_MM), so that an old month can leave the database as a whole, archived and
-- recorded, while no row of the log is ever updated or deleted. Existing rows move over with
-- their seq and recorded_at; the identity continues after them.

ALTER TABLE outbox.log RENAME TO log_unpartitioned;
ALTER INDEX outbox.log_pkey RENAME TO log_unpartitioned_pkey;
ALTER INDEX outbox.log_intent RENAME TO log_unpartitioned_intent;
ALTER INDEX outbox.log_portal RENAME TO log_unpartitioned_portal;
ALTER INDEX outbox.log_recorded_at RENAME TO log_unpartitioned_recorded_at;
ALTER SEQUENCE outbox.log_seq_seq RENAME TO log_unpartitioned_seq_seq;

CREATE TABLE outbox.log (
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    stream       text NOT NULL CONSTRAINT log_stream_check CHECK (stream <> ''),
    type         text NOT NULL CONSTRAINT log_type_check CHECK (type ~ '^[a-z]+(\.[a-z_]+)+$'),
    intent_id    bigint,
    portal_id    bigint,
    data         jsonb NOT NULL DEFAULT '{}' CONSTRAINT log_data_check CHECK (jsonb_typeof(data) = 'object'),
    -- A key of a partitioned table must hold the partition key; seq alone stays unique
    -- because only the identity assigns it.
    PRIMARY KEY (seq, recorded_at)
) PARTITION BY RANGE (recorded_at);

CREATE INDEX log_intent ON outbox.log (intent_id, seq) WHERE intent_id IS NOT NULL;
CREATE INDEX log_portal ON outbox.log (portal_id, seq) WHERE portal_id IS NOT NULL;
CREATE INDEX log_recorded_at ON outbox.log USING brin (recorded_at);

-- Row triggers on the parent are cloned onto every partition, present and future. TRUNCATE
-- triggers are not: a TRUNCATE of one partition fires only that partition's own trigger, so
-- every partition gets one (outbox.protect_log_partition).
CREATE TRIGGER log_no_update_delete
    BEFORE UPDATE OR DELETE ON outbox.log
    FOR EACH ROW EXECUTE FUNCTION outbox.refuse_log_change();
CREATE TRIGGER log_no_truncate
    BEFORE TRUNCATE ON outbox.log
    FOR EACH STATEMENT EXECUTE FUNCTION outbox.refuse_log_change();
ALTER TABLE outbox.log ENABLE ALWAYS TRIGGER log_no_update_delete;
ALTER TABLE outbox.log ENABLE ALWAYS TRIGGER log_no_truncate;

-- Gives one partition the TRUNCATE refusal, and makes sure its clone of the row trigger fires
-- ALWAYS (even under session_replication_role = replica), as the parent's does.
CREATE FUNCTION outbox.protect_log_partition(p_partition regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER log_no_truncate BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION outbox.refuse_log_change()', p_partition);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER log_no_truncate', p_partition);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER log_no_update_delete', p_partition);
END;
$$;

-- Attaches an empty month partition (UTC months, whatever the session's time zone). ATTACH
-- needs only SHARE UPDATE EXCLUSIVE on the parent and a brief lock on the empty default
-- partition, so appends go on while a month is added (CREATE TABLE … PARTITION OF would take
-- ACCESS EXCLUSIVE on the parent and queue every insert behind any long reader).
CREATE FUNCTION outbox.add_log_partition(p_month date) RETURNS regclass
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
DECLARE
    v_from timestamptz := date_trunc('month', p_month::timestamp) AT TIME ZONE 'UTC';
    v_to timestamptz := (date_trunc('month', p_month::timestamp) + interval '1 month') AT TIME ZONE 'UTC';
    v_name text := 'log_' || to_char(p_month, 'YYYY_MM');
    v_partition regclass;
BEGIN
    EXECUTE format('CREATE TABLE outbox.%I (LIKE outbox.log INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', v_name);
    v_partition := format('outbox.%I', v_name)::regclass;
    EXECUTE format('ALTER TABLE outbox.log ATTACH PARTITION %s FOR VALUES FROM (%L) TO (%L)',
                   v_partition, v_from, v_to);
    PERFORM outbox.protect_log_partition(v_partition);
    RETURN v_partition;
END;
$$;

-- No insert may fail for want of a partition (a failed append fails a delivery, and makes
-- `serve` answer 503): months are created ahead by outbox.ensure_log_partitions, which
-- `migrate` runs and workers and `serve` run every hour, and a DEFAULT partition catches
-- whatever still falls outside them (no process ran for months, a clock far ahead). It is
-- empty in normal operation, so adding a month never has rows to check there.
CREATE TABLE outbox.log_default PARTITION OF outbox.log DEFAULT;
SELECT outbox.protect_log_partition('outbox.log_default');

-- Creates the partitions of the current month and `p_months_ahead` months after it, and of
-- every month whose rows landed in the default partition: those rows move to their month
-- with seq, recorded_at and data unchanged (the default is detached, emptied into the
-- parent, and dropped in this transaction). Returns the partitions created. Idempotent, and
-- safe to call concurrently; runs as the log's owner so that the worker role may call it.
CREATE FUNCTION outbox.ensure_log_partitions(p_months_ahead integer DEFAULT 3)
RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC'
-- Attaching a month locks the (empty) default partition, and readers of the log queue behind
-- that lock while it waits for a long reader such as verify: give up soon instead, and let
-- the next call, an hour later, try again. Appends never wait for it.
SET lock_timeout = '500ms' AS $$
DECLARE
    v_now date := (now() AT TIME ZONE 'UTC')::date;
    v_month date;
    v_stray date[];
BEGIN
    IF p_months_ahead IS NULL OR p_months_ahead NOT BETWEEN 0 AND 120 THEN
        RAISE EXCEPTION 'months ahead must be between 0 and 120, got %', coalesce(p_months_ahead::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One caller at a time ("b24log" in ASCII); the others then find everything in place.
    PERFORM pg_advisory_xact_lock(107967767408487);

    SELECT array_agg(DISTINCT date_trunc('month', recorded_at AT TIME ZONE 'UTC')::date)
      INTO v_stray FROM outbox.log_default;
    IF v_stray IS NOT NULL THEN
        ALTER TABLE outbox.log DETACH PARTITION outbox.log_default;
        ALTER TABLE outbox.log_default RENAME TO log_default_moving;
        CREATE TABLE outbox.log_default PARTITION OF outbox.log DEFAULT;
        PERFORM outbox.protect_log_partition('outbox.log_default');
    END IF;

    FOR v_month IN
        SELECT m::date FROM generate_series(date_trunc('month', v_now::timestamp),
                                            date_trunc('month', v_now::timestamp) + make_interval(months => p_months_ahead),
                                            interval '1 month') m
        UNION
        SELECT unnest(v_stray)
        ORDER BY 1
    LOOP
        IF to_regclass(format('outbox.%I', 'log_' || to_char(v_month, 'YYYY_MM'))) IS NULL THEN
            RETURN NEXT outbox.add_log_partition(v_month)::text;
        END IF;
    END LOOP;

    IF v_stray IS NOT NULL THEN
        INSERT INTO outbox.log OVERRIDING SYSTEM VALUE
        SELECT seq, recorded_at, stream, type, intent_id, portal_id, data
          FROM outbox.log_default_moving ORDER BY seq;
        DROP TABLE outbox.log_default_moving;
    END IF;
END;
$$;

-- Every month that has rows, then the months ahead; the rows move in seq order.
SELECT outbox.add_log_partition(m)
  FROM (SELECT DISTINCT date_trunc('month', recorded_at AT TIME ZONE 'UTC')::date AS m
          FROM outbox.log_unpartitioned) months
 ORDER BY m;
SELECT outbox.ensure_log_partitions(3);
INSERT INTO outbox.log OVERRIDING SYSTEM VALUE
SELECT seq, recorded_at, stream, type, intent_id, portal_id, data
  FROM outbox.log_unpartitioned ORDER BY seq;

-- The identity continues after every seq the old table handed out, even rolled back ones.
SELECT setval(pg_get_serial_sequence('outbox.log', 'seq'), s.last_value, s.is_called)
  FROM (SELECT greatest(
                   (SELECT last_value FROM outbox.log_unpartitioned_seq_seq),
                   (SELECT max(seq) FROM outbox.log_unpartitioned)) AS last_value,
               (SELECT is_called FROM outbox.log_unpartitioned_seq_seq)
                   OR EXISTS (SELECT 1 FROM outbox.log_unpartitioned) AS is_called) s;

DROP TABLE outbox.log_unpartitioned;

-- What left the database: one row per archived month, written by `b24outbox log archive` in
-- the transaction that appends the month's `log.archived` entry and drops its partition.
CREATE TABLE outbox.log_archives (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    month          date NOT NULL CHECK (month = date_trunc('month', month)),
    partition_name text NOT NULL,
    file_name      text NOT NULL CHECK (file_name ~ '^[A-Za-z0-9._-]+$'),
    rows           bigint NOT NULL CHECK (rows >= 0),
    first_seq      bigint,
    last_seq       bigint,
    -- The highest intent id with an entry in the month: `verify` cannot fold the history of
    -- intents up to it whose first entries left with an archive.
    max_intent_id  bigint,
    sha256         text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    -- The month's `log.archived` entry.
    log_seq        bigint NOT NULL,
    archived_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((rows = 0) = (first_seq IS NULL) AND (first_seq IS NULL) = (last_seq IS NULL))
);

CREATE FUNCTION outbox.refuse_archive_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'outbox.log_archives is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER log_archives_no_update_delete
    BEFORE UPDATE OR DELETE ON outbox.log_archives
    FOR EACH ROW EXECUTE FUNCTION outbox.refuse_archive_change();
CREATE TRIGGER log_archives_no_truncate
    BEFORE TRUNCATE ON outbox.log_archives
    FOR EACH STATEMENT EXECUTE FUNCTION outbox.refuse_archive_change();
ALTER TABLE outbox.log_archives ENABLE ALWAYS TRIGGER log_archives_no_update_delete;
ALTER TABLE outbox.log_archives ENABLE ALWAYS TRIGGER log_archives_no_truncate;

-- The roles of 005 on the new table. Reads and appends go through the parent, which is all
-- the privileges checked; the partitions grant nothing, and only their owner (the role that
-- runs `migrate`) may detach, drop or truncate them.
REVOKE ALL ON FUNCTION outbox.protect_log_partition(regclass), outbox.add_log_partition(date),
    outbox.ensure_log_partitions(integer), outbox.refuse_archive_change() FROM PUBLIC;
GRANT SELECT, INSERT ON outbox.log TO b24outbox_worker;
GRANT SELECT ON outbox.log TO b24outbox_audit;
GRANT SELECT ON outbox.log_archives TO b24outbox_worker, b24outbox_audit;
GRANT EXECUTE ON FUNCTION outbox.ensure_log_partitions(integer) TO b24outbox_worker;
