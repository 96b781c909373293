-- The claim's last step (IntentStore.claimTurn), in its transaction, when the portal's turn
-- granted more requests than the claimed intents need: the p_unused ones go back to the bucket
-- (return_rate_slots). With nothing claimed at all (the due intents all wait for one of their
-- recipient and TAG in flight), the turn also moves 50 ms on, so other portals go first and
-- workers do not ask for it again and again meanwhile.
CREATE OR REPLACE FUNCTION outbox.settle_turn(p_portal_id bigint, p_unused integer, p_claimed integer)
 RETURNS void
 LANGUAGE sql
AS $function$
    SELECT outbox.return_rate_slots(p_portal_id, p_unused);
    UPDATE outbox.portal_turns SET due_at = clock_timestamp() + interval '50 milliseconds'
     WHERE portal_id = p_portal_id AND p_claimed = 0;
$function$;

REVOKE ALL ON FUNCTION outbox.settle_turn(bigint,integer,integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox.settle_turn(bigint,integer,integer) TO b24outbox_worker;
