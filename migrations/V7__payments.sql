-- Payments: orders (card through Stripe Checkout, or the wallet ledger), Stripe customers,
-- saved-card summaries, subscriptions, invoices, and the webhook inbox.
-- How they are used: docs/payments.md. Money is integer cents.

-- Orders --------------------------------------------------------------------------------

CREATE TABLE orders (
    id                         uuid PRIMARY KEY,
    user_id                    uuid NOT NULL,
    method                     text NOT NULL CHECK (method IN ('card', 'wallet')),
    status                     text NOT NULL DEFAULT 'PENDING'
                               CHECK (status IN ('PENDING', 'PAID', 'EXPIRED', 'FAILED', 'REFUNDED')),
    total_cents                bigint NOT NULL CHECK (total_cents > 0),
    currency                   char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- Card orders: the Checkout Session that collects the money (one order per session).
    stripe_checkout_session_id text CONSTRAINT orders_one_per_checkout_session UNIQUE,
    stripe_payment_intent_id   text,
    checkout_url               text,
    checkout_expires_at        timestamptz,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    paid_at                    timestamptz,
    CONSTRAINT orders_wallet_has_no_session CHECK (method = 'card' OR stripe_checkout_session_id IS NULL)
);

CREATE INDEX orders_user_created ON orders (user_id, created_at DESC, id DESC);
CREATE INDEX orders_payment_intent ON orders (stripe_payment_intent_id) WHERE stripe_payment_intent_id IS NOT NULL;

-- Status moves forward only: PENDING -> PAID | EXPIRED | FAILED; PAID -> REFUNDED. A late or
-- repeated provider event can therefore never move an order backwards, whatever the code does.
CREATE FUNCTION orders_forward_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
               (OLD.status = 'PENDING' AND NEW.status IN ('PAID', 'EXPIRED', 'FAILED', 'REFUNDED'))
            OR (OLD.status = 'PAID' AND NEW.status = 'REFUNDED')) THEN
            RAISE EXCEPTION 'order % cannot move from % to %', OLD.id, OLD.status, NEW.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'orders_forward_only';
        END IF;
        NEW.updated_at := now();
        RETURN NEW;
    END
    $$;

CREATE TRIGGER orders_forward_only BEFORE UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION orders_forward_only();

CREATE TABLE order_items (
    id             uuid PRIMARY KEY,
    order_id       uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    cart_item_id   uuid NOT NULL REFERENCES quote_cart_items (id),
    quote_id       uuid NOT NULL REFERENCES quotes (id),
    product_id     text NOT NULL REFERENCES products (id),
    premium_cents  bigint NOT NULL CHECK (premium_cents > 0),
    currency       char(3) NOT NULL,
    -- True while the order can still take the item's money (PENDING or PAID). A cart item is
    -- in at most one live order: two checkouts cannot both sell it.
    live           boolean NOT NULL DEFAULT true
);

CREATE UNIQUE INDEX order_items_one_live_per_cart_item ON order_items (cart_item_id) WHERE live;
CREATE INDEX order_items_order ON order_items (order_id);

-- Stripe customers, cards, subscriptions, invoices -------------------------------------

-- One Stripe customer per user, created lazily at the first card checkout.
CREATE TABLE payment_customers (
    user_id            uuid PRIMARY KEY,
    stripe_customer_id text NOT NULL CONSTRAINT payment_customers_one_per_stripe_customer UNIQUE,
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- What the user may see of a saved card; never card data (PCI SAQ A: Stripe holds the card).
CREATE TABLE user_payment_methods (
    stripe_payment_method_id text PRIMARY KEY,
    user_id                  uuid NOT NULL,
    brand                    text,
    last4                    char(4) CHECK (last4 ~ '^[0-9]{4}$'),
    exp_month                smallint CHECK (exp_month BETWEEN 1 AND 12),
    exp_year                 smallint,
    created_at               timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX user_payment_methods_user ON user_payment_methods (user_id);

CREATE TABLE subscriptions (
    stripe_subscription_id text PRIMARY KEY,
    user_id                uuid NOT NULL,
    plan                   text NOT NULL,
    stripe_price_id        text,
    status                 text NOT NULL,
    current_period_start   timestamptz,
    current_period_end     timestamptz,
    cancel_at_period_end   boolean NOT NULL DEFAULT false,
    -- The Stripe object's own clock: a state older than the stored one is never applied.
    stripe_updated_at      timestamptz NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX subscriptions_user ON subscriptions (user_id);

CREATE TABLE invoices (
    stripe_invoice_id      text PRIMARY KEY,
    user_id                uuid NOT NULL,
    stripe_subscription_id text,
    status                 text NOT NULL,
    amount_due_cents       bigint NOT NULL CHECK (amount_due_cents >= 0),
    amount_paid_cents      bigint NOT NULL CHECK (amount_paid_cents >= 0),
    currency               char(3) NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX invoices_user ON invoices (user_id);

-- The webhook inbox -----------------------------------------------------------------------

-- Every verified provider event, once. Its effects and its `processed` mark commit together.
CREATE TABLE webhook_events (
    id              uuid PRIMARY KEY,
    provider        text NOT NULL CHECK (provider IN ('stripe')),
    event_id        text NOT NULL,
    type            text NOT NULL,
    object_id       text,
    api_version     text,
    -- The body exactly as received (it may not even be JSON).
    payload         text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'processed', 'failed', 'dead')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      text,
    next_attempt_at timestamptz,
    received_at     timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz,
    CONSTRAINT webhook_events_once UNIQUE (provider, event_id)
);

CREATE INDEX webhook_events_retry ON webhook_events (next_attempt_at) WHERE status = 'failed';

-- Row-level security -------------------------------------------------------------------

ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE order_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE payment_customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_payment_methods ENABLE ROW LEVEL SECURITY;
ALTER TABLE subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_events ENABLE ROW LEVEL SECURITY;

CREATE POLICY orders_owner ON orders TO parley_app
    USING (user_id = app_user_id()) WITH CHECK (user_id = app_user_id());
CREATE POLICY order_items_owner ON order_items TO parley_app
    USING (order_id IN (SELECT id FROM orders)) WITH CHECK (order_id IN (SELECT id FROM orders));
CREATE POLICY payment_customers_owner ON payment_customers TO parley_app
    USING (user_id = app_user_id()) WITH CHECK (user_id = app_user_id());
CREATE POLICY user_payment_methods_owner ON user_payment_methods FOR SELECT TO parley_app
    USING (user_id = app_user_id());
CREATE POLICY subscriptions_owner ON subscriptions FOR SELECT TO parley_app
    USING (user_id = app_user_id());
CREATE POLICY invoices_owner ON invoices FOR SELECT TO parley_app
    USING (user_id = app_user_id());
-- webhook_events: no policy for parley_app, so the API role sees none of it.

CREATE POLICY orders_service ON orders TO parley_service USING (true) WITH CHECK (true);
CREATE POLICY order_items_service ON order_items TO parley_service USING (true) WITH CHECK (true);
CREATE POLICY payment_customers_service ON payment_customers FOR SELECT TO parley_service USING (true);
CREATE POLICY user_payment_methods_service ON user_payment_methods TO parley_service USING (true) WITH CHECK (true);
CREATE POLICY subscriptions_service ON subscriptions TO parley_service USING (true) WITH CHECK (true);
CREATE POLICY invoices_service ON invoices TO parley_service USING (true) WITH CHECK (true);
CREATE POLICY webhook_events_service ON webhook_events TO parley_service USING (true) WITH CHECK (true);

-- The API creates orders and records the Checkout Session it opened; it cannot change an
-- order's status (a wallet order is inserted PAID in the debit's transaction). Every later
-- status change comes from Stripe's events, through the service role.
GRANT SELECT, INSERT ON orders, order_items, payment_customers TO parley_app;
GRANT UPDATE (stripe_checkout_session_id, checkout_url, checkout_expires_at) ON orders TO parley_app;
GRANT SELECT ON user_payment_methods, subscriptions, invoices TO parley_app;

GRANT SELECT, UPDATE ON orders TO parley_service;
GRANT SELECT, UPDATE (live) ON order_items TO parley_service;
GRANT SELECT ON payment_customers TO parley_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON user_payment_methods, subscriptions, invoices TO parley_service;
GRANT SELECT, INSERT, UPDATE ON webhook_events TO parley_service;
