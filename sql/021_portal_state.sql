-- A portal has a state, and only an `active` one is claimed: an operator pauses a portal
-- (`b24outbox portal pause NAME`) to hold its intents, neither sent nor spent, and resumes it
-- later. Claims that are running when it is paused finish; nothing new is claimed until resume.
-- The constant default makes the new column a change of the catalogue only, not a rewrite.
ALTER TABLE outbox.portals
    ADD COLUMN state text NOT NULL DEFAULT 'active'
        CONSTRAINT portals_state_check CHECK (state IN ('active', 'paused')),
    ADD COLUMN state_changed_at timestamptz;
GRANT SELECT (state, state_changed_at) ON TABLE outbox.portals TO b24outbox_audit;

-- The log knows the two new entry types (the list is LogType.all): the constraint of 019 is
-- replaced, NOT VALID again so existing rows are not read under the lock.
SET LOCAL lock_timeout = '5s';
ALTER TABLE outbox.log DROP CONSTRAINT log_type_known;
ALTER TABLE outbox.log ADD CONSTRAINT log_type_known CHECK (type IN (
    'intent.enqueued', 'intent.claimed', 'delivery.succeeded', 'delivery.failed', 'intent.dead',
    'intent.released', 'intent.lease_expired', 'intent.replayed', 'intent.cancelled',
    'bitrix.event', 'chat.dialog_finished',
    'portal.added', 'portal.removed', 'portal.moved', 'portal.tokens_set', 'portal.tokens_refreshed',
    'portal.token_refresh_unanswered', 'portal.token_refresh_refused', 'portal.tokens_lost',
    'portal.paused', 'portal.resumed',
    'log.archived'
)) NOT VALID;
ALTER TABLE outbox.log_default VALIDATE CONSTRAINT log_type_known;
