-- The log is append-only, enforced by the database itself.
CREATE OR REPLACE FUNCTION outbox.refuse_log_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    RAISE EXCEPTION 'outbox.log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'Record a correction as a new log entry instead.';
END;
$function$;

REVOKE ALL ON FUNCTION outbox.refuse_log_change() FROM PUBLIC;
