-- Today's schema in one file: every table, index, trigger and grant of `outbox`, as the
-- numbered migrations (`sql/NNN_*.sql`, the history, immutable) leave it. The current text of
-- each function is its own file in `sql/functions/`. `migrate` does not run this file:
-- `SchemaFileTests` loads it (after the function files, which its triggers call) into an empty
-- database and compares that with a migrated one, so it cannot drift from what `migrate` makes.
-- A new migration changes this file too.

-- Three group roles (NOLOGIN), to grant to the logins that run each part:
--   b24outbox_producer  may call the enqueue functions, and nothing else
--   b24outbox_worker    runs `worker`, `serve`, `run` and `events pull`: claims and updates
--                       intents, appends to the log (never UPDATE or DELETE), reads portals
--                       with their secrets and stores refreshed tokens
--   b24outbox_audit     reads the log, the intents and the portals without their secrets
-- They belong to the whole cluster; migration 005 creates them when missing (a DBA may create
-- them ahead, so that `migrate` needs no CREATEROLE).

REVOKE ALL ON SCHEMA outbox FROM PUBLIC;
GRANT USAGE ON SCHEMA outbox TO b24outbox_producer, b24outbox_worker, b24outbox_audit;

-- What `migrate` has applied: the numbered migrations, and the function files by their checksum.
CREATE TABLE IF NOT EXISTS outbox.schema_migrations (
    name text PRIMARY KEY,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);
GRANT SELECT ON TABLE outbox.schema_migrations TO b24outbox_worker, b24outbox_audit;
CREATE TABLE outbox.schema_functions (
    name text PRIMARY KEY,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT schema_functions_checksum_check CHECK ((checksum ~ '^[0-9a-f]{64}$'::text)),
    CONSTRAINT schema_functions_name_check CHECK ((name ~ '^[a-z0-9_]+\.sql$'::text))
);
GRANT SELECT ON TABLE outbox.schema_functions TO b24outbox_worker, b24outbox_audit;

-- One Bitrix24 portal: its address, its credentials (an incoming webhook, or OAuth tokens of a
-- local or partner application) and its request bucket. The audit role reads no secret column.
CREATE TABLE outbox.portals (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    base_url text NOT NULL,
    auth_kind text NOT NULL,
    webhook_user_id bigint,
    webhook_code text,
    access_token text,
    refresh_token text,
    token_expires_at timestamp with time zone,
    client_id text,
    client_secret text,
    application_token text,
    member_id text UNIQUE,
    domain text,
    rate_bucket integer DEFAULT 50 NOT NULL,
    rate_drain double precision DEFAULT 2 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    oauth_token_url text,
    -- When the stored access token was issued: a refresh counts from when it was sent.
    token_issued_at timestamp with time zone,
    -- Only an active portal is claimed; an operator pauses one with `portal pause` (021).
    state text DEFAULT 'active'::text NOT NULL,
    state_changed_at timestamp with time zone,
    CONSTRAINT portals_auth_kind_check CHECK ((auth_kind = ANY (ARRAY['webhook'::text, 'oauth'::text]))),
    CONSTRAINT portals_base_url_check CHECK ((base_url ~ '^https?://[^/?#@]+/?$'::text)),
    CONSTRAINT portals_name_check CHECK ((name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'::text)),
    CONSTRAINT portals_oauth_credentials CHECK (((auth_kind <> 'oauth'::text) OR (access_token IS NOT NULL))),
    CONSTRAINT portals_oauth_token_url_check CHECK ((oauth_token_url ~ '^https?://'::text)),
    CONSTRAINT portals_rate_bucket_check CHECK ((rate_bucket > 0)),
    CONSTRAINT portals_rate_drain_check CHECK ((rate_drain > (0)::double precision)),
    CONSTRAINT portals_state_check CHECK ((state = ANY (ARRAY['active'::text, 'paused'::text]))),
    CONSTRAINT portals_webhook_credentials CHECK (((auth_kind <> 'webhook'::text) OR ((webhook_user_id IS NOT NULL) AND (webhook_code IS NOT NULL)))),
    CONSTRAINT portals_webhook_user_id_check CHECK ((webhook_user_id > 0))
);
-- A portal keeps its id, and is not deleted (or truncated) while intents name it.
CREATE TRIGGER portals_id_fixed BEFORE UPDATE OF id ON outbox.portals FOR EACH ROW WHEN ((old.id IS DISTINCT FROM new.id)) EXECUTE FUNCTION outbox.refuse_portal_id_change();
CREATE TRIGGER portals_keep_intents BEFORE DELETE ON outbox.portals FOR EACH ROW EXECUTE FUNCTION outbox.refuse_portal_with_intents();
CREATE TRIGGER portals_no_truncate_with_intents BEFORE TRUNCATE ON outbox.portals FOR EACH STATEMENT EXECUTE FUNCTION outbox.refuse_portals_truncate();
GRANT SELECT, UPDATE ON TABLE outbox.portals TO b24outbox_worker;
GRANT SELECT (id, name, base_url, auth_kind, webhook_user_id, token_expires_at, member_id, domain,
              rate_bucket, rate_drain, created_at, updated_at, oauth_token_url, token_issued_at,
              state, state_changed_at)
    ON TABLE outbox.portals TO b24outbox_audit;

-- What applications asked for: one row per intent, written only through the enqueue functions.
CREATE TABLE outbox.intents (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    portal_id bigint NOT NULL,
    kind text NOT NULL COLLATE pg_catalog."C",
    payload jsonb NOT NULL,
    idempotency_key text NOT NULL COLLATE pg_catalog."C",
    status text DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    lease_owner text,
    lease_expires_at timestamp with time zone,
    result_id bigint,
    last_error jsonb,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    delivered_at timestamp with time zone,
    lease_expiries integer DEFAULT 0 NOT NULL,
    CONSTRAINT intents_attempts_check CHECK ((attempts >= 0)),
    CONSTRAINT intents_delivered CHECK (((status = 'delivered'::text) = (delivered_at IS NOT NULL))),
    CONSTRAINT intents_idempotency_key_check CHECK (((length(idempotency_key) >= 1) AND (length(idempotency_key) <= 200))),
    CONSTRAINT intents_kind_check CHECK ((kind = ANY (ARRAY['chat.create'::text, 'notify.personal'::text, 'notify.system'::text]))),
    CONSTRAINT intents_lease CHECK (((status = 'claimed'::text) = ((lease_owner IS NOT NULL) AND (lease_expires_at IS NOT NULL)))),
    CONSTRAINT intents_lease_expiries_check CHECK ((lease_expiries >= 0)),
    CONSTRAINT intents_payload_check CHECK ((jsonb_typeof(payload) = 'object'::text)),
    CONSTRAINT intents_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'claimed'::text, 'delivered'::text, 'dead'::text, 'cancelled'::text])))
);
-- The claim reads the due pending intents, overall and per portal; the reaper the claimed ones.
CREATE INDEX intents_pending_due ON outbox.intents USING btree (next_attempt_at, id) WHERE (status = 'pending'::text);
CREATE INDEX intents_pending_portal_due ON outbox.intents USING btree (portal_id, next_attempt_at, id) WHERE (status = 'pending'::text);
-- The open notifications by portal, recipient and TAG: a claim keeps them in order (migration 023).
CREATE INDEX intents_open_tag ON outbox.intents USING btree (portal_id, ((payload ->> 'USER_ID'::text)), ((payload ->> 'TAG'::text)), id) WHERE ((status = ANY (ARRAY['pending'::text, 'claimed'::text])) AND (kind = ANY (ARRAY['notify.personal'::text, 'notify.system'::text])));
CREATE INDEX intents_claimed_lease ON outbox.intents USING btree (lease_expires_at) WHERE (status = 'claimed'::text);
CREATE INDEX intents_dead ON outbox.intents USING btree (portal_id) WHERE (status = 'dead'::text);
CREATE INDEX intents_chat_result ON outbox.intents USING btree (result_id) WHERE (kind = 'chat.create'::text);
-- An intent's portal exists when it is written and never changes; nor do its id, kind and key.
CREATE TRIGGER intents_portal_exists AFTER INSERT ON outbox.intents REFERENCING NEW TABLE AS new_intents FOR EACH STATEMENT EXECUTE FUNCTION outbox.check_new_intents_portals();
CREATE TRIGGER intents_portal_fixed BEFORE UPDATE OF portal_id ON outbox.intents FOR EACH ROW WHEN ((old.portal_id IS DISTINCT FROM new.portal_id)) EXECUTE FUNCTION outbox.refuse_intent_move();
CREATE TRIGGER intents_key_fixed BEFORE UPDATE OF id, kind, idempotency_key ON outbox.intents FOR EACH ROW WHEN (((old.id IS DISTINCT FROM new.id) OR (old.kind IS DISTINCT FROM new.kind) OR (old.idempotency_key IS DISTINCT FROM new.idempotency_key))) EXECUTE FUNCTION outbox.refuse_intent_key_change();
-- Keys and chat entities follow deleted intents, so a key can be used again.
CREATE TRIGGER intents_keys_follow_delete AFTER DELETE ON outbox.intents REFERENCING OLD TABLE AS deleted_intents FOR EACH STATEMENT EXECUTE FUNCTION outbox.forget_deleted_intent_keys();
CREATE TRIGGER intents_keys_follow_truncate AFTER TRUNCATE ON outbox.intents FOR EACH STATEMENT EXECUTE FUNCTION outbox.forget_all_intent_keys();
-- The finished statuses are counted as intents enter and leave them (outbox.intent_totals).
CREATE TRIGGER intents_counted_insert AFTER INSERT ON outbox.intents REFERENCING NEW TABLE AS new_intents FOR EACH STATEMENT EXECUTE FUNCTION outbox.count_finished_intents();
CREATE TRIGGER intents_counted_update AFTER UPDATE OF status ON outbox.intents FOR EACH ROW WHEN (((old.status IS DISTINCT FROM new.status) AND ((old.status = ANY (ARRAY['delivered'::text, 'cancelled'::text])) OR (new.status = ANY (ARRAY['delivered'::text, 'cancelled'::text]))))) EXECUTE FUNCTION outbox.count_finished_intents();
CREATE TRIGGER intents_wake_portals_insert AFTER INSERT ON outbox.intents REFERENCING NEW TABLE AS new_intents FOR EACH STATEMENT EXECUTE FUNCTION outbox.wake_portals();
CREATE TRIGGER intents_wake_portals_update AFTER UPDATE OF status, next_attempt_at ON outbox.intents FOR EACH ROW WHEN (((new.status = 'pending'::text) AND ((old.status <> 'pending'::text) OR (new.next_attempt_at < old.next_attempt_at)))) EXECUTE FUNCTION outbox.wake_portals();
CREATE TRIGGER intents_counted_delete AFTER DELETE ON outbox.intents FOR EACH ROW WHEN ((old.status = ANY (ARRAY['delivered'::text, 'cancelled'::text]))) EXECUTE FUNCTION outbox.count_finished_intents();
CREATE TRIGGER intents_counted_truncate AFTER TRUNCATE ON outbox.intents FOR EACH STATEMENT EXECUTE FUNCTION outbox.count_finished_intents();
-- Also under session_replication_role = replica: a logical replica keeps its keys and counts.
ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_keys_follow_delete;
ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_keys_follow_truncate;
ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_counted_insert;
ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_counted_update;
ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_counted_delete;
ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_counted_truncate;
ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_wake_portals_insert;
ALTER TABLE outbox.intents ENABLE ALWAYS TRIGGER intents_wake_portals_update;
GRANT SELECT, UPDATE ON TABLE outbox.intents TO b24outbox_worker;
GRANT SELECT ON TABLE outbox.intents TO b24outbox_audit;

-- Each idempotency key of a portal and kind names one intent, whatever its status.
CREATE TABLE outbox.intent_keys (
    portal_id bigint NOT NULL,
    kind text NOT NULL COLLATE pg_catalog."C",
    idempotency_key text NOT NULL COLLATE pg_catalog."C",
    intent_id bigint NOT NULL,
    PRIMARY KEY (portal_id, kind, idempotency_key)
);
GRANT SELECT ON TABLE outbox.intent_keys TO b24outbox_worker, b24outbox_audit;

-- Each chat entity (ENTITY_TYPE, ENTITY_ID) of a portal is created by one intent only.
CREATE TABLE outbox.chat_entities (
    portal_id bigint NOT NULL,
    entity_type text NOT NULL COLLATE pg_catalog."C",
    entity_id text NOT NULL COLLATE pg_catalog."C",
    intent_id bigint NOT NULL,
    PRIMARY KEY (portal_id, entity_type, entity_id)
);
CREATE INDEX chat_entities_intent ON outbox.chat_entities USING btree (intent_id);
GRANT SELECT ON TABLE outbox.chat_entities TO b24outbox_worker, b24outbox_audit;

-- Delivered and cancelled intents per backend (slot = its pid, 0 for those that ended).
CREATE TABLE outbox.intent_counts (
    slot integer NOT NULL,
    status text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (slot, status),
    CONSTRAINT intent_counts_status_check CHECK ((status = ANY (ARRAY['delivered'::text, 'cancelled'::text])))
);
GRANT SELECT ON TABLE outbox.intent_counts TO b24outbox_worker, b24outbox_audit;

-- The append-only log: every step, every answer and every event, by month of recorded_at (UTC
-- months, outbox.log_YYYY_MM, kept by outbox.ensure_log_partitions), so that an old month can
-- leave as a whole, archived and recorded in outbox.log_archives, while no row is ever updated
-- or deleted. A key of a partitioned table must hold the partition key; seq alone stays unique
-- because only the identity assigns it.
CREATE TABLE outbox.log (
    seq bigint GENERATED ALWAYS AS IDENTITY,
    recorded_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    stream text NOT NULL,
    type text NOT NULL,
    intent_id bigint,
    portal_id bigint,
    data jsonb DEFAULT '{}'::jsonb NOT NULL,
    PRIMARY KEY (seq, recorded_at),
    CONSTRAINT log_data_check CHECK ((jsonb_typeof(data) = 'object'::text)),
    CONSTRAINT log_stream_check CHECK ((stream <> ''::text)),
    CONSTRAINT log_type_check CHECK ((type ~ '^[a-z]+(\.[a-z_]+)+$'::text))
)
PARTITION BY RANGE (recorded_at);
-- The types of Swift's LogType.all, checked on every row written since migration 019 (021 added portal.paused and portal.resumed) (the rows
-- before it were not read again).
ALTER TABLE outbox.log ADD CONSTRAINT log_type_known CHECK (type IN (
    'intent.enqueued', 'intent.claimed', 'delivery.succeeded', 'delivery.failed', 'intent.dead',
    'intent.released', 'intent.lease_expired', 'intent.replayed', 'intent.cancelled', 'intent.superseded',
    'bitrix.event', 'chat.dialog_finished',
    'portal.added', 'portal.removed', 'portal.moved', 'portal.tokens_set', 'portal.tokens_refreshed',
    'portal.token_refresh_unanswered', 'portal.token_refresh_refused', 'portal.tokens_lost',
    'portal.paused', 'portal.resumed',
    'log.archived'
)) NOT VALID;
CREATE INDEX log_intent ON outbox.log USING btree (intent_id, seq) WHERE (intent_id IS NOT NULL);
CREATE INDEX log_portal ON outbox.log USING btree (portal_id, seq) WHERE (portal_id IS NOT NULL);
CREATE INDEX log_recorded_at ON outbox.log USING brin (recorded_at);
-- Row triggers on the parent are cloned onto every partition, present and future; TRUNCATE
-- triggers are not, so every partition gets its own (outbox.protect_log_partition).
CREATE TRIGGER log_no_update_delete BEFORE DELETE OR UPDATE ON outbox.log FOR EACH ROW EXECUTE FUNCTION outbox.refuse_log_change();
CREATE TRIGGER log_no_truncate BEFORE TRUNCATE ON outbox.log FOR EACH STATEMENT EXECUTE FUNCTION outbox.refuse_log_change();
ALTER TABLE outbox.log ENABLE ALWAYS TRIGGER log_no_update_delete;
ALTER TABLE outbox.log ENABLE ALWAYS TRIGGER log_no_truncate;
-- Reads and appends go through the parent, which is all the privileges checked; the partitions
-- grant nothing, and only their owner (the role that runs `migrate`) may detach, drop or
-- truncate them. A worker appends but never chooses seq or recorded_at.
GRANT SELECT ON TABLE outbox.log TO b24outbox_worker, b24outbox_audit;
GRANT INSERT (stream, type, intent_id, portal_id, data) ON TABLE outbox.log TO b24outbox_worker;
-- Rows of a month without a partition yet; ensure_log_partitions moves them into their month.
CREATE TABLE outbox.log_default PARTITION OF outbox.log DEFAULT;
SELECT outbox.protect_log_partition('outbox.log_default');
SELECT outbox.ensure_log_partitions(3);

-- What left the database: one row per archived month, written by `b24outbox log archive` in
-- the transaction that appends the month's `log.archived` entry and drops its partition.
CREATE TABLE outbox.log_archives (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    month date NOT NULL,
    partition_name text NOT NULL,
    file_name text NOT NULL,
    rows bigint NOT NULL,
    first_seq bigint,
    last_seq bigint,
    -- The highest intent id with an entry in the month: `verify` cannot fold the history of
    -- intents up to it whose first entries left with an archive.
    max_intent_id bigint,
    sha256 text NOT NULL,
    -- The month's `log.archived` entry.
    log_seq bigint NOT NULL,
    archived_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT log_archives_check CHECK ((((rows = 0) = (first_seq IS NULL)) AND ((first_seq IS NULL) = (last_seq IS NULL)))),
    CONSTRAINT log_archives_file_name_check CHECK ((file_name ~ '^[A-Za-z0-9._-]+$'::text)),
    CONSTRAINT log_archives_month_check CHECK ((month = date_trunc('month'::text, (month)::timestamp with time zone))),
    CONSTRAINT log_archives_rows_check CHECK ((rows >= 0)),
    CONSTRAINT log_archives_sha256_check CHECK ((sha256 ~ '^[0-9a-f]{64}$'::text))
);
CREATE TRIGGER log_archives_no_update_delete BEFORE DELETE OR UPDATE ON outbox.log_archives FOR EACH ROW EXECUTE FUNCTION outbox.refuse_archive_change();
CREATE TRIGGER log_archives_no_truncate BEFORE TRUNCATE ON outbox.log_archives FOR EACH STATEMENT EXECUTE FUNCTION outbox.refuse_archive_change();
ALTER TABLE outbox.log_archives ENABLE ALWAYS TRIGGER log_archives_no_update_delete;
ALTER TABLE outbox.log_archives ENABLE ALWAYS TRIGGER log_archives_no_truncate;
GRANT SELECT ON TABLE outbox.log_archives TO b24outbox_worker, b24outbox_audit;

-- Events Bitrix24 sent, by fingerprint, so that one sent twice is logged once.
CREATE TABLE outbox.inbound_events (
    portal_id bigint NOT NULL REFERENCES outbox.portals(id) ON DELETE CASCADE,
    fingerprint text NOT NULL,
    log_seq bigint,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    PRIMARY KEY (portal_id, fingerprint),
    CONSTRAINT inbound_events_fingerprint_check CHECK ((fingerprint <> ''::text))
);
GRANT SELECT, INSERT, UPDATE ON TABLE outbox.inbound_events TO b24outbox_worker;
GRANT SELECT ON TABLE outbox.inbound_events TO b24outbox_audit;

-- The rate limiter: each portal's leaky bucket shared by every worker, its pause after
-- QUERY_LIMIT_EXCEEDED, and the methods paused after OPERATION_TIME_LIMIT.
CREATE TABLE outbox.portal_rate (
    portal_id bigint PRIMARY KEY REFERENCES outbox.portals(id) ON DELETE CASCADE,
    level double precision DEFAULT 0 NOT NULL,
    updated_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    paused_until timestamp with time zone,
    CONSTRAINT portal_rate_level_check CHECK ((level >= (0)::double precision))
);
GRANT SELECT, INSERT, UPDATE ON TABLE outbox.portal_rate TO b24outbox_worker;
GRANT SELECT ON TABLE outbox.portal_rate TO b24outbox_audit;

CREATE TABLE outbox.method_pauses (
    portal_id bigint NOT NULL REFERENCES outbox.portals(id) ON DELETE CASCADE,
    method text NOT NULL,
    paused_until timestamp with time zone NOT NULL,
    PRIMARY KEY (portal_id, method)
);
GRANT SELECT, INSERT, UPDATE ON TABLE outbox.method_pauses TO b24outbox_worker;
GRANT SELECT ON TABLE outbox.method_pauses TO b24outbox_audit;

-- Portals take turns (sql/functions/take_turn.sql): a turn per portal that may have pending
-- intents, due when it should be looked at again; and the wake-ups that intents becoming
-- pending write (trigger wake_portals), folded into turns by the next claim.
CREATE TABLE outbox.portal_turns (
    portal_id bigint PRIMARY KEY REFERENCES outbox.portals(id) ON DELETE CASCADE,
    due_at timestamp with time zone NOT NULL
);
CREATE INDEX portal_turns_due ON outbox.portal_turns USING btree (due_at, portal_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE outbox.portal_turns TO b24outbox_worker;
GRANT SELECT ON TABLE outbox.portal_turns TO b24outbox_audit;

CREATE TABLE outbox.portal_wakeups (
    portal_id bigint NOT NULL,
    due_at timestamp with time zone NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE outbox.portal_wakeups TO b24outbox_worker;
GRANT SELECT ON TABLE outbox.portal_wakeups TO b24outbox_audit;

-- Worker pools whose lease was lost, with how many intents they held (for /metrics).
CREATE TABLE outbox.lost_workers (
    pool text COLLATE pg_catalog."C" PRIMARY KEY,
    lost_at timestamp with time zone NOT NULL,
    held bigint NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE outbox.lost_workers TO b24outbox_worker;
GRANT SELECT ON TABLE outbox.lost_workers TO b24outbox_audit;

-- One OAuth token refresh per portal at a time, across processes: the turn, who holds it until
-- when, and the refresh token it spends (SHA-256), so a token the server refused is tried no more.
CREATE TABLE outbox.token_refreshes (
    portal_id bigint PRIMARY KEY REFERENCES outbox.portals(id) ON DELETE CASCADE,
    state text NOT NULL,
    holder text NOT NULL,
    until timestamp with time zone NOT NULL,
    spent bytea NOT NULL,
    unanswered integer DEFAULT 0 NOT NULL,
    failures integer DEFAULT 0 NOT NULL,
    error text,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT token_refreshes_error_check CHECK ((length(error) <= 200)),
    CONSTRAINT token_refreshes_failures_check CHECK ((failures >= 0)),
    CONSTRAINT token_refreshes_holder_check CHECK (((length(holder) >= 1) AND (length(holder) <= 200))),
    CONSTRAINT token_refreshes_spent_check CHECK ((length(spent) = 32)),
    CONSTRAINT token_refreshes_state_check CHECK ((state = ANY (ARRAY['running'::text, 'backoff'::text, 'refused'::text]))),
    CONSTRAINT token_refreshes_unanswered_check CHECK ((unanswered >= 0))
);
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE outbox.token_refreshes TO b24outbox_worker;
GRANT SELECT ON TABLE outbox.token_refreshes TO b24outbox_audit;

-- Who runs each maintenance task (reap: expired leases; partitions: the log's months ahead),
-- across all hosts: a turn with an expiry, renewed by its holder (outbox.take_maintenance_turn).
CREATE TABLE outbox.maintenance_turn (
    task text PRIMARY KEY,
    holder text NOT NULL,
    until timestamp with time zone NOT NULL,
    taken_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT maintenance_turn_holder_check CHECK (((length(holder) >= 1) AND (length(holder) <= 200))),
    CONSTRAINT maintenance_turn_task_check CHECK ((task = ANY (ARRAY['reap'::text, 'partitions'::text])))
);
GRANT SELECT ON TABLE outbox.maintenance_turn TO b24outbox_worker, b24outbox_audit;

-- Nothing for PUBLIC on any function, table or sequence: `migrate` repeats this after every
-- step, since PostgreSQL grants PUBLIC EXECUTE on every function created anew.
REVOKE ALL ON ALL ROUTINES IN SCHEMA outbox FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA outbox FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA outbox FROM PUBLIC;
