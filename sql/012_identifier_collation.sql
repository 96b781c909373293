-- An intent's kind and idempotency key are identifiers, equal only when byte for byte equal,
-- which the database's default collation already says. Under the "C" collation the unique index
-- on (portal_id, kind, idempotency_key) orders them by their bytes too, so every insert into it
-- (each enqueue, and each update of an intent) compares with memcmp instead of the locale's
-- rules: a few percent of a drain's database work with C.UTF-8, more with other locales.
-- Neither uniqueness nor any answer changes. The table is not rewritten; the indexes that name
-- these columns are rebuilt, under the lock ALTER TABLE takes.
ALTER TABLE outbox.intents
    ALTER COLUMN kind TYPE text COLLATE "C",
    ALTER COLUMN idempotency_key TYPE text COLLATE "C";
