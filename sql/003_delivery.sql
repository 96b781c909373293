-- Delivery: per-portal claims, the shared rate limiter, method pauses.

-- Claims take the due intents of one portal at a time.
CREATE INDEX intents_pending_portal_due ON outbox.intents (portal_id, next_attempt_at, id)
    WHERE status = 'pending';

-- Bitrix24's leaky bucket, mirrored per portal and shared by every worker process:
-- `level` requests are in the bucket as of `updated_at`; it drains at portals.rate_drain/s.
CREATE TABLE outbox.portal_rate (
    portal_id     bigint PRIMARY KEY REFERENCES outbox.portals (id) ON DELETE CASCADE,
    level         double precision NOT NULL DEFAULT 0 CHECK (level >= 0),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- Set when Bitrix24 answered QUERY_LIMIT_EXCEEDED: nothing is sent before it.
    paused_until  timestamptz
);

-- OPERATION_TIME_LIMIT pauses one method of one portal until Bitrix24's reset time.
CREATE TABLE outbox.method_pauses (
    portal_id     bigint NOT NULL REFERENCES outbox.portals (id) ON DELETE CASCADE,
    method        text NOT NULL,
    paused_until  timestamptz NOT NULL,
    PRIMARY KEY (portal_id, method)
);

-- Takes one request slot from a portal's bucket. Returns 0 when granted, else the seconds to
-- wait before asking again. One slot of the bucket is kept free: requests reach Bitrix24 a
-- little later than they are granted, by varying amounts, and that slot absorbs the jitter.
CREATE FUNCTION outbox.take_rate_slot(p_portal_id bigint) RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_capacity double precision;
    v_drain double precision;
    v_level double precision;
    v_paused timestamptz;
BEGIN
    INSERT INTO outbox.portal_rate (portal_id) VALUES (p_portal_id) ON CONFLICT DO NOTHING;
    SELECT r.level, r.paused_until, greatest(1, p.rate_bucket - 1), p.rate_drain
      INTO v_level, v_paused, v_capacity, v_drain
      FROM outbox.portal_rate r JOIN outbox.portals p ON p.id = r.portal_id
     WHERE r.portal_id = p_portal_id
       FOR UPDATE OF r;
    IF v_paused IS NOT NULL AND v_paused > v_now THEN
        RETURN extract(epoch FROM v_paused - v_now);
    END IF;
    SELECT greatest(0, v_level - v_drain * extract(epoch FROM v_now - updated_at))
      INTO v_level FROM outbox.portal_rate WHERE portal_id = p_portal_id;
    IF v_level + 1 > v_capacity THEN
        UPDATE outbox.portal_rate SET level = v_level, updated_at = v_now WHERE portal_id = p_portal_id;
        RETURN (v_level + 1 - v_capacity) / v_drain;
    END IF;
    UPDATE outbox.portal_rate SET level = v_level + 1, updated_at = v_now, paused_until = NULL
     WHERE portal_id = p_portal_id;
    RETURN 0;
END;
$$;

-- Bitrix24 refused a request with QUERY_LIMIT_EXCEEDED: the real bucket is fuller than our
-- mirror (another app or host shares it). Treat it as full and wait one drain interval.
CREATE FUNCTION outbox.note_rate_limited(p_portal_id bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO outbox.portal_rate (portal_id, level, updated_at, paused_until)
    SELECT id, rate_bucket, clock_timestamp(), clock_timestamp() + make_interval(secs => 1 / rate_drain)
      FROM outbox.portals WHERE id = p_portal_id
    ON CONFLICT (portal_id) DO UPDATE
       SET level = excluded.level, updated_at = excluded.updated_at, paused_until = excluded.paused_until;
$$;

-- OAuth portals refresh tokens at this endpoint (Bitrix24's own when NULL).
ALTER TABLE outbox.portals ADD COLUMN oauth_token_url text CHECK (oauth_token_url ~ '^https?://');
