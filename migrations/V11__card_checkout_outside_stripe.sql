-- A card checkout no longer holds a transaction while Stripe answers (docs/payments.md):
-- the order is committed PENDING first, Stripe is called, and the Checkout Session is
-- attached in a second transaction. An order that never gets its session — Stripe failed,
-- or the function died in between — cannot be paid (nobody was shown a payment page), so
-- it is closed FAILED and its items are freed:
--   * by the checkout itself, for the order whose Stripe calls just failed (p_order);
--   * by the next checkout of the same user, and by the hourly sweep, for any such order
--     opened more than two minutes ago (p_order NULL). A checkout ends long before that:
--     its function times out after 25 s.
-- The API role reaches only the caller's own orders; it still cannot move an order to any
-- other status, nor touch an order that has a session (only Stripe's events close those).
-- Returns the orders it closed.
CREATE FUNCTION fail_sessionless_checkouts(p_order uuid, p_limit bigint) RETURNS SETOF uuid
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_service boolean := pg_has_role(session_user, 'parley_service', 'MEMBER');
        v_failed  uuid[];
    BEGIN
        IF NOT v_service AND app_user_id() IS NULL THEN
            RAISE EXCEPTION 'closing a checkout needs a signed-in user' USING ERRCODE = 'insufficient_privilege';
        END IF;
        WITH failed AS (
            UPDATE orders o SET status = 'FAILED' WHERE o.id IN (
                SELECT c.id FROM orders c
                WHERE c.status = 'PENDING' AND c.method = 'card' AND c.stripe_checkout_session_id IS NULL
                  AND (v_service OR c.user_id = app_user_id())
                  AND (c.id = p_order OR (p_order IS NULL AND c.created_at < now() - interval '2 minutes'))
                ORDER BY c.created_at LIMIT p_limit FOR UPDATE SKIP LOCKED)
            RETURNING o.id)
        SELECT coalesce(array_agg(id), '{}') INTO v_failed FROM failed;
        UPDATE order_items SET live = false WHERE order_id = ANY (v_failed);
        RETURN QUERY SELECT unnest(v_failed);
    END
    $$;
REVOKE ALL ON FUNCTION fail_sessionless_checkouts(uuid, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fail_sessionless_checkouts(uuid, bigint) TO parley_app, parley_service;

-- Stale session-less orders are found per user (the checkout) and across users (the sweep).
CREATE INDEX orders_pending_without_session ON orders (created_at)
    WHERE status = 'PENDING' AND stripe_checkout_session_id IS NULL;
