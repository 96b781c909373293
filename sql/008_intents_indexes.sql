-- One index less on every write of an intent. (portal_id, status) served no query well: the
-- statistics count the whole table either way, a portal's intents are found through the
-- idempotency key's index, which starts with portal_id, and the questions asked of one status
-- have partial indexes: pending (intents_pending_due), claimed (intents_claimed_lease), and now
-- dead, which `stats` and replays of dead intents look for.
DROP INDEX outbox.intents_portal_status;
CREATE INDEX intents_dead ON outbox.intents (portal_id) WHERE status = 'dead';
-- Both run inside the migration's transaction, so not CONCURRENTLY: dropping waits for running
-- statements on intents, and writes to intents wait while the partial index is built (it holds
-- only dead intents, but the build reads the whole table). Migrate at a quiet moment.
