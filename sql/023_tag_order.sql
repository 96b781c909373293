-- One TAG, one screen. Bitrix24 keeps one notification per (recipient, TAG): the last one sent.
-- Two intents with one recipient and TAG sent out of order would leave the older text on
-- screen, so the claim (Sources/Outbox/Intents/claim_intents.sql) keeps them in order: an
-- intent waits while another with its recipient and TAG is in flight, and claiming an intent
-- supersedes the older ones of its recipient and TAG that still wait (a retry's backoff, a
-- later not-before): they are cancelled, each with an intent.superseded entry, instead of
-- being sent after it. This index finds them: the open notifications by portal, recipient, TAG.
-- Building it holds new intents back (as 008's indexes did): migrate at a quiet moment; the
-- lock is not waited for longer than 5 s.
SET LOCAL lock_timeout = '5s';
CREATE INDEX intents_open_tag ON outbox.intents (portal_id, (payload->>'USER_ID'), (payload->>'TAG'), id)
    WHERE status IN ('pending', 'claimed') AND kind IN ('notify.personal', 'notify.system');

-- The log knows the new entry type (the list is LogType.all): the constraint is replaced, NOT
-- VALID again so existing rows are not read under the lock.
ALTER TABLE outbox.log DROP CONSTRAINT log_type_known;
ALTER TABLE outbox.log ADD CONSTRAINT log_type_known CHECK (type IN (
    'intent.enqueued', 'intent.claimed', 'delivery.succeeded', 'delivery.failed', 'intent.dead',
    'intent.released', 'intent.lease_expired', 'intent.replayed', 'intent.cancelled', 'intent.superseded',
    'bitrix.event', 'chat.dialog_finished',
    'portal.added', 'portal.removed', 'portal.moved', 'portal.tokens_set', 'portal.tokens_refreshed',
    'portal.token_refresh_unanswered', 'portal.token_refresh_refused', 'portal.tokens_lost',
    'portal.paused', 'portal.resumed',
    'log.archived'
)) NOT VALID;
ALTER TABLE outbox.log_default VALIDATE CONSTRAINT log_type_known;
