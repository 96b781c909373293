-- The log refuses an entry type it does not know, so a typo in a writer fails where it is made
-- instead of leaving an entry no reader expects. The list is Swift's `LogType.all`; a test keeps
-- the two equal, and a new type comes with a migration that replaces this constraint.
-- NOT VALID: the rows already there (millions, in a long-lived log) are not read again under
-- the lock this takes; every row written from now on is checked. New month partitions copy
-- the constraint (outbox.add_log_partition creates them LIKE the log, constraints included).
ALTER TABLE outbox.log ADD CONSTRAINT log_type_known CHECK (type IN (
    'intent.enqueued', 'intent.claimed', 'delivery.succeeded', 'delivery.failed', 'intent.dead',
    'intent.released', 'intent.lease_expired', 'intent.replayed', 'intent.cancelled',
    'bitrix.event', 'chat.dialog_finished',
    'portal.added', 'portal.removed', 'portal.moved', 'portal.tokens_set', 'portal.tokens_refreshed',
    'portal.token_refresh_unanswered', 'portal.token_refresh_refused', 'portal.tokens_lost',
    'log.archived'
)) NOT VALID;
