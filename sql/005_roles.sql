-- Least privilege: three group roles (NOLOGIN) to grant to the logins that run each part.
--
--   b24outbox_producer  may call the enqueue functions, and nothing else
--   b24outbox_worker    runs `worker`, `serve`, `run` and `events pull`: claims and updates
--                       intents, appends to the log (never UPDATE or DELETE), reads portals
--                       with their secrets and stores refreshed tokens
--   b24outbox_audit     reads the log, the intents and the portals without their secrets
--
-- Roles belong to the whole cluster: an existing role is kept (a DBA may create them ahead,
-- so that `migrate` needs no CREATEROLE), and a concurrent migration of another database
-- creating the same role is no error.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['b24outbox_producer', 'b24outbox_worker', 'b24outbox_audit'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END;
$$;

-- Nothing is callable by default, now or in later migrations; each role gets what it needs below.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA outbox FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA outbox REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
REVOKE ALL ON SCHEMA outbox FROM PUBLIC;
GRANT USAGE ON SCHEMA outbox TO b24outbox_producer, b24outbox_worker, b24outbox_audit;

-- Producers write through the functions only, which run with their owner's rights: the
-- validation, the log entry and the NOTIFY come with every intent, whoever calls.
ALTER FUNCTION outbox.enqueue(text, text, jsonb, text, timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION outbox.enqueue_notification(text, bigint, text, text, jsonb, text, timestamptz, boolean, text, text)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION outbox.enqueue_chat(text, jsonb, text, timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION outbox.enqueue_many(text[], text[], jsonb[], text[], timestamptz[])
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION
    outbox.enqueue(text, text, jsonb, text, timestamptz),
    outbox.enqueue_notification(text, bigint, text, text, jsonb, text, timestamptz, boolean, text, text),
    outbox.enqueue_chat(text, jsonb, text, timestamptz),
    outbox.enqueue_many(text[], text[], jsonb[], text[], timestamptz[])
    TO b24outbox_producer, b24outbox_worker;

-- The services.
GRANT SELECT ON outbox.schema_migrations TO b24outbox_worker, b24outbox_audit;
GRANT SELECT, UPDATE ON outbox.intents TO b24outbox_worker;
GRANT SELECT, INSERT ON outbox.log TO b24outbox_worker;
GRANT SELECT, UPDATE ON outbox.portals TO b24outbox_worker;
GRANT SELECT, INSERT, UPDATE ON outbox.portal_rate, outbox.method_pauses TO b24outbox_worker;
GRANT SELECT, INSERT, UPDATE ON outbox.inbound_events TO b24outbox_worker;
GRANT EXECUTE ON FUNCTION
    outbox.take_rate_slot(bigint), outbox.note_rate_limited(bigint),
    outbox.record_event(bigint, text, jsonb, jsonb)
    TO b24outbox_worker;

-- Auditors read everything but the portals' secrets.
GRANT SELECT ON outbox.intents, outbox.log, outbox.inbound_events, outbox.portal_rate, outbox.method_pauses
    TO b24outbox_audit;
GRANT SELECT (id, name, base_url, auth_kind, webhook_user_id, member_id, domain, rate_bucket, rate_drain,
              token_expires_at, oauth_token_url, created_at, updated_at)
    ON outbox.portals TO b24outbox_audit;
