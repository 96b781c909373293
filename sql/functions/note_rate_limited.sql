-- Bitrix24 refused a request with QUERY_LIMIT_EXCEEDED: the real bucket is fuller than our
-- mirror (another app or host shares it). Treat it as full and wait one drain interval.
CREATE OR REPLACE FUNCTION outbox.note_rate_limited(p_portal_id bigint)
 RETURNS void
 LANGUAGE sql
AS $function$
    INSERT INTO outbox.portal_rate (portal_id, level, updated_at, paused_until)
    SELECT id, rate_bucket, clock_timestamp(), clock_timestamp() + make_interval(secs => 1 / rate_drain)
      FROM outbox.portals WHERE id = p_portal_id
    ON CONFLICT (portal_id) DO UPDATE
       SET level = excluded.level, updated_at = excluded.updated_at, paused_until = excluded.paused_until;
$function$;

REVOKE ALL ON FUNCTION outbox.note_rate_limited(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.note_rate_limited(bigint) TO b24outbox_worker;
