-- The function files of sql/functions/ that `migrate` has applied, by the checksum of their
-- text: a file is applied again when its text changes, and every file after any numbered
-- migration (which may have replaced or dropped a function). The numbered migrations stay
-- in outbox.schema_migrations.
CREATE TABLE outbox.schema_functions (
    name       text PRIMARY KEY CHECK (name ~ '^[a-z0-9_]+\.sql$'),
    checksum   text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    applied_at timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON outbox.schema_functions TO b24outbox_worker, b24outbox_audit;
