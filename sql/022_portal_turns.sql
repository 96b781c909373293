-- Portals take turns. A claim no longer takes the portal of the oldest due intent (whose bucket
-- may be empty while other portals' buckets are full); it takes the portal whose turn is due
-- first, among portals that have due work and room in their bucket, and puts it at the back of
-- the line. The limiter's functions are sql/functions/take_turn.sql and its neighbours.
--
-- outbox.portal_turns: one row per portal that may have pending intents, due when it should be
-- looked at again (now, when its bucket has room, when its next intent is due).
CREATE TABLE outbox.portal_turns (
    portal_id bigint PRIMARY KEY REFERENCES outbox.portals(id) ON DELETE CASCADE,
    due_at    timestamptz NOT NULL
);
CREATE INDEX portal_turns_due ON outbox.portal_turns (due_at, portal_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON outbox.portal_turns TO b24outbox_worker;
GRANT SELECT ON outbox.portal_turns TO b24outbox_audit;

-- outbox.portal_wakeups: a row per statement that made intents pending (an enqueue, a retry, a
-- reaped lease, a replay), written by a trigger and folded into portal_turns by the next claim.
-- A plain insert with no key, so producers never wait for each other or for a claim, at any
-- isolation level; and since it commits with the intents it announces, no intent can be
-- pending without its portal's turn or a wake-up on the way.
CREATE TABLE outbox.portal_wakeups (
    portal_id bigint NOT NULL,
    due_at    timestamptz NOT NULL
);
-- INSERT: resuming a portal wakes it. UPDATE: the fold takes wake-ups FOR UPDATE SKIP LOCKED, so two claims fold different ones.
GRANT SELECT, INSERT, UPDATE, DELETE ON outbox.portal_wakeups TO b24outbox_worker;
GRANT SELECT ON outbox.portal_wakeups TO b24outbox_audit;

-- The pending intents of today get their turns.
INSERT INTO outbox.portal_turns (portal_id, due_at)
SELECT portal_id, min(next_attempt_at) FROM outbox.intents WHERE status = 'pending' GROUP BY portal_id;

-- The trigger function is sql/functions/wake_portals.sql, applied after the migrations.
