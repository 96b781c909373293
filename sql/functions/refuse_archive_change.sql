CREATE OR REPLACE FUNCTION outbox.refuse_archive_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    RAISE EXCEPTION 'outbox.log_archives is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$function$;

REVOKE ALL ON FUNCTION outbox.refuse_archive_change() FROM PUBLIC;
