CREATE OR REPLACE FUNCTION outbox.refuse_portal_id_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    RAISE EXCEPTION 'the id of portal % cannot change', OLD.name
        USING ERRCODE = 'foreign_key_violation', TABLE = 'portals', COLUMN = 'id';
END;
$function$;

REVOKE ALL ON FUNCTION outbox.refuse_portal_id_change() FROM PUBLIC;
