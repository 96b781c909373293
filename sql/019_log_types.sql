-- The log refuses an entry type it does not know, so a typo in a writer fails where it is made
-- instead of leaving an entry no reader expects. The list is Swift's `LogType.all`; a test keeps
-- the two equal, and a new type comes with a migration that replaces this constraint.
-- NOT VALID: the rows already there (millions, in a long-lived log) are not read again under
-- the lock this takes; every row written from now on is checked. New month partitions copy
-- the constraint (outbox.add_log_partition creates them LIKE the log, constraints included).
-- The ALTER takes the log's lock for a moment: behind a long reader it gives up rather than
-- queue every append behind it (run `migrate` again).
SET LOCAL lock_timeout = '5s';
ALTER TABLE outbox.log ADD CONSTRAINT log_type_known CHECK (type IN (
    'intent.enqueued', 'intent.claimed', 'delivery.succeeded', 'delivery.failed', 'intent.dead',
    'intent.released', 'intent.lease_expired', 'intent.replayed', 'intent.cancelled',
    'bitrix.event', 'chat.dialog_finished',
    'portal.added', 'portal.removed', 'portal.moved', 'portal.tokens_set', 'portal.tokens_refreshed',
    'portal.token_refresh_unanswered', 'portal.token_refresh_refused', 'portal.tokens_lost',
    'log.archived'
)) NOT VALID;
-- The default partition holds rows only until ensure_log_partitions moves them into their month,
-- which checks them: one of a type unknown here would stop that move for good, so it is found
-- now (the partition is small, normally empty).
ALTER TABLE outbox.log_default VALIDATE CONSTRAINT log_type_known;
