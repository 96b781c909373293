-- The outbox: portals, the intents projection, and the append-only log.

CREATE TABLE outbox.portals (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              text NOT NULL UNIQUE
                      CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
    -- The portal's address without any secret, e.g. https://example.bitrix24.com
    base_url          text NOT NULL CHECK (base_url ~ '^https?://[^/?#@]+/?$'),
    auth_kind         text NOT NULL CHECK (auth_kind IN ('webhook', 'oauth')),
    -- Secrets live in this table only; nothing copies them into the log.
    webhook_user_id   bigint CHECK (webhook_user_id > 0),
    webhook_code      text,
    access_token      text,
    refresh_token     text,
    token_expires_at  timestamptz,
    client_id         text,
    client_secret     text,
    -- Proof of origin for inbound events (auth[application_token]).
    application_token text,
    member_id         text UNIQUE,
    domain            text,
    -- Bitrix24's leaky bucket for this portal: capacity and drain per second.
    rate_bucket       integer NOT NULL DEFAULT 50 CHECK (rate_bucket > 0),
    rate_drain        double precision NOT NULL DEFAULT 2 CHECK (rate_drain > 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT portals_webhook_credentials CHECK (
        auth_kind <> 'webhook' OR (webhook_user_id IS NOT NULL AND webhook_code IS NOT NULL)),
    CONSTRAINT portals_oauth_credentials CHECK (
        auth_kind <> 'oauth' OR access_token IS NOT NULL)
);

CREATE TABLE outbox.intents (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    portal_id         bigint NOT NULL REFERENCES outbox.portals (id),
    kind              text NOT NULL
                      CHECK (kind IN ('chat.create', 'notify.personal', 'notify.system')),
    -- Exactly the Bitrix24 fields of the call.
    payload           jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    idempotency_key   text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'claimed', 'delivered', 'dead', 'cancelled')),
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    lease_owner       text,
    lease_expires_at  timestamptz,
    -- The chat id or notification id Bitrix24 returned.
    result_id         bigint,
    last_error        jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz,
    CONSTRAINT intents_idempotency_key UNIQUE (portal_id, kind, idempotency_key),
    -- A lease exists exactly while an intent is claimed.
    CONSTRAINT intents_lease CHECK (
        (status = 'claimed') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CONSTRAINT intents_delivered CHECK (
        (status = 'delivered') = (delivered_at IS NOT NULL))
);

-- What the claim query scans: due pending intents, oldest first.
CREATE INDEX intents_pending_due ON outbox.intents (next_attempt_at, id) WHERE status = 'pending';
-- What the lease reaper scans.
CREATE INDEX intents_claimed_lease ON outbox.intents (lease_expires_at) WHERE status = 'claimed';
CREATE INDEX intents_portal_status ON outbox.intents (portal_id, status);
-- Linking inbound dialog events to the chat intent that created the chat.
CREATE INDEX intents_chat_result ON outbox.intents (result_id) WHERE kind = 'chat.create';

CREATE TABLE outbox.log (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    stream       text NOT NULL CHECK (stream <> ''),
    type         text NOT NULL CHECK (type ~ '^[a-z]+(\.[a-z_]+)+$'),
    intent_id    bigint,
    portal_id    bigint,
    data         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object')
);

CREATE INDEX log_intent ON outbox.log (intent_id, seq) WHERE intent_id IS NOT NULL;
CREATE INDEX log_portal ON outbox.log (portal_id, seq) WHERE portal_id IS NOT NULL;
CREATE INDEX log_recorded_at ON outbox.log USING brin (recorded_at);

-- The log is append-only, enforced by the database itself.
CREATE FUNCTION outbox.refuse_log_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'outbox.log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'Record a correction as a new log entry instead.';
END;
$$;

CREATE TRIGGER log_no_update_delete
    BEFORE UPDATE OR DELETE ON outbox.log
    FOR EACH ROW EXECUTE FUNCTION outbox.refuse_log_change();
CREATE TRIGGER log_no_truncate
    BEFORE TRUNCATE ON outbox.log
    FOR EACH STATEMENT EXECUTE FUNCTION outbox.refuse_log_change();
-- Fire even under session_replication_role = replica, which skips ordinary triggers.
ALTER TABLE outbox.log ENABLE ALWAYS TRIGGER log_no_update_delete;
ALTER TABLE outbox.log ENABLE ALWAYS TRIGGER log_no_truncate;
