-- Maintenance runs as named tasks, each in one process at a time across all hosts: the one
-- holding the task's turn. `reap` (expired leases) is taken by worker pools only, whose settings
-- decide when a reaped chat is due again; `partitions` (the log's months ahead) by pools and
-- `serve`. A turn is a row with an expiry, renewed by its holder every few seconds, so a host cut
-- from the network loses it within its lease (a session advisory lock would last until the
-- server noticed the dead connection, which can take hours). The turn functions are
-- sql/functions/take_maintenance_turn.sql and release_maintenance_turn.sql.
CREATE TABLE outbox.maintenance_turn (
    task      text PRIMARY KEY CHECK (task IN ('reap', 'partitions')),
    holder    text NOT NULL CHECK (length(holder) BETWEEN 1 AND 200),
    until     timestamptz NOT NULL,
    taken_at  timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON outbox.maintenance_turn TO b24outbox_worker, b24outbox_audit;
