-- Least privilege that holds.
--
-- * PostgreSQL lets PUBLIC execute every new function, and 005's ALTER DEFAULT PRIVILEGES
--   IN SCHEMA could not take that global default away: enqueue (re-created in 009) and
--   take_rate_slots (011) were callable by any login with schema USAGE, so the audit role
--   could send. From now on `migrate` revokes every PUBLIC privilege on the schema's
--   functions, tables and sequences after each migration, in the migration's own
--   transaction (Migrator.revokePublic), so a function created or re-created later never
--   keeps the default. The owner's global default is left alone: it would change every
--   other schema the same role owns.
-- * The log's seq and recorded_at belong to the database. The worker appends naming only
--   stream, type, intent_id, portal_id and data: a backdated entry (which could recreate an
--   archived month) or a chosen seq (OVERRIDING SYSTEM VALUE, a duplicate the primary key
--   (seq, recorded_at) would accept) is refused with 42501. So only the identity assigns seq,
--   and seq is unique; only the owner, which owns the table outright, could do otherwise.

REVOKE INSERT ON outbox.log FROM b24outbox_worker;
GRANT INSERT (stream, type, intent_id, portal_id, data) ON outbox.log TO b24outbox_worker;
