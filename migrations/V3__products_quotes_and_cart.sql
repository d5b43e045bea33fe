-- Products and their pricing table (reference data), quotes, and the quote cart.
-- Pricing rules are documented in docs/pricing.md; the code is shared/src/pricing.rs.

-- One ownership rule for every caller-owned table: the user once set (created signed in,
-- or claimed), else the anonymous session.
CREATE FUNCTION app_is_owner(owner_user uuid, owner_anonymous uuid) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
        SELECT CASE
            WHEN owner_user IS NOT NULL THEN owner_user = app_user_id()
            ELSE owner_anonymous = app_anonymous_session_id()
        END IS TRUE
    $$;

ALTER POLICY conversations_owner ON conversations
    USING (app_is_owner(owner_user_id, owner_anonymous_session_id))
    WITH CHECK (app_is_owner(owner_user_id, owner_anonymous_session_id));
DROP FUNCTION app_owns_conversation(uuid, uuid);

-- Products ------------------------------------------------------------------------------

CREATE TABLE products (
    id                      text PRIMARY KEY,
    name                    text NOT NULL,
    description             text NOT NULL,
    delay_threshold_minutes integer NOT NULL CHECK (delay_threshold_minutes > 0),
    coverage_cents          bigint NOT NULL CHECK (coverage_cents > 0),
    base_premium_cents      bigint NOT NULL CHECK (base_premium_cents > 0),
    currency                char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    active                  boolean NOT NULL DEFAULT true
);

-- Multipliers in basis points (10000 = x1.00) by factor and band.
CREATE TABLE product_price_factors (
    product_id    text NOT NULL REFERENCES products (id),
    factor        text NOT NULL CHECK (factor IN ('distance_band', 'weekday', 'lead_time')),
    band          text NOT NULL,
    multiplier_bp integer NOT NULL CHECK (multiplier_bp BETWEEN 1000 and 100000),
    PRIMARY KEY (product_id, factor, band)
);

INSERT INTO products (id, name, description, delay_threshold_minutes, coverage_cents, base_premium_cents, currency) VALUES
    ('PROD_DELAY_60', 'Delay cover 60', 'Pays out when the flight arrives 60 minutes or more late.', 60, 15000, 1500, 'USD'),
    ('PROD_DELAY_120', 'Delay cover 120', 'Pays out when the flight arrives 120 minutes or more late.', 120, 30000, 1800, 'USD');

INSERT INTO product_price_factors (product_id, factor, band, multiplier_bp)
SELECT p.id, f.factor, f.band,
       -- Long-haul delays of 2 h+ are rarer relative to their cover than 1 h delays.
       CASE WHEN p.id = 'PROD_DELAY_120' AND f.factor = 'distance_band' AND f.band = 'long' THEN 11500 ELSE f.multiplier_bp END
FROM products p
CROSS JOIN (VALUES
    ('distance_band', 'short',  9000),   -- under 1500 km
    ('distance_band', 'medium', 10000),  -- 1500 to 4000 km
    ('distance_band', 'long',   12500),  -- over 4000 km
    ('weekday', 'mon', 10500),
    ('weekday', 'tue', 10000),
    ('weekday', 'wed', 10000),
    ('weekday', 'thu', 10000),
    ('weekday', 'fri', 11500),
    ('weekday', 'sat', 9500),
    ('weekday', 'sun', 11000),
    ('lead_time', '0-2',   12000),       -- days between quote and departure
    ('lead_time', '3-13',  10000),
    ('lead_time', '14-59', 9500),
    ('lead_time', '60+',   9000)
) AS f (factor, band, multiplier_bp);

GRANT SELECT ON products, product_price_factors TO parley_app, parley_service;

-- Quotes --------------------------------------------------------------------------------

CREATE TABLE quotes (
    id                         uuid PRIMARY KEY,
    owner_user_id              uuid,
    owner_anonymous_session_id uuid REFERENCES anonymous_sessions (id) ON DELETE CASCADE,
    product_id                 text NOT NULL REFERENCES products (id),
    flight_number              text NOT NULL CHECK (flight_number ~ '^[A-Z0-9]{2}[0-9]{1,4}$'),
    origin                     char(3) NOT NULL CHECK (origin ~ '^[A-Z]{3}$'),
    destination                char(3) NOT NULL CHECK (destination ~ '^[A-Z]{3}$'),
    departure_date             date NOT NULL,
    premium_cents              bigint NOT NULL CHECK (premium_cents > 0),
    coverage_cents             bigint NOT NULL CHECK (coverage_cents > 0),
    currency                   char(3) NOT NULL,
    -- The factors applied, so a price can always be explained later.
    pricing                    jsonb NOT NULL,
    status                     text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'EXPIRED')),
    created_at                 timestamptz NOT NULL DEFAULT now(),
    expires_at                 timestamptz NOT NULL,
    CONSTRAINT quotes_have_an_owner CHECK (owner_user_id IS NOT NULL OR owner_anonymous_session_id IS NOT NULL),
    CONSTRAINT quotes_expire_after_creation CHECK (expires_at > created_at),
    CONSTRAINT quotes_route_differs CHECK (origin <> destination)
);

CREATE INDEX quotes_owner_user ON quotes (owner_user_id) WHERE owner_user_id IS NOT NULL;
CREATE INDEX quotes_owner_anonymous ON quotes (owner_anonymous_session_id) WHERE owner_anonymous_session_id IS NOT NULL;
CREATE INDEX quotes_active_expiry ON quotes (expires_at) WHERE status = 'ACTIVE';

-- Cart ----------------------------------------------------------------------------------

CREATE TABLE quote_cart_items (
    id                         uuid PRIMARY KEY,
    quote_id                   uuid NOT NULL REFERENCES quotes (id) ON DELETE CASCADE,
    owner_user_id              uuid,
    owner_anonymous_session_id uuid REFERENCES anonymous_sessions (id) ON DELETE CASCADE,
    premium_cents              bigint NOT NULL CHECK (premium_cents > 0),
    currency                   char(3) NOT NULL,
    status                     text NOT NULL DEFAULT 'ACTIVE'
                               CHECK (status IN ('ACTIVE', 'PURCHASED', 'EXPIRED', 'REMOVED')),
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT quote_cart_items_have_an_owner CHECK (owner_user_id IS NOT NULL OR owner_anonymous_session_id IS NOT NULL)
);

-- The same quote added twice is the same item: the constraint decides, not a read-then-write.
-- A removed or expired item no longer holds its quote.
CREATE UNIQUE INDEX quote_cart_items_one_live_per_quote ON quote_cart_items (quote_id)
    WHERE status IN ('ACTIVE', 'PURCHASED');
CREATE INDEX quote_cart_items_owner_user ON quote_cart_items (owner_user_id) WHERE owner_user_id IS NOT NULL;
CREATE INDEX quote_cart_items_owner_anonymous ON quote_cart_items (owner_anonymous_session_id)
    WHERE owner_anonymous_session_id IS NOT NULL;

-- Status moves forward only: ACTIVE -> PURCHASED | EXPIRED | REMOVED; the others are final.
CREATE FUNCTION quote_cart_items_forward_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF NEW.status IS DISTINCT FROM OLD.status AND OLD.status <> 'ACTIVE' THEN
            RAISE EXCEPTION 'cart item % cannot move from % to %', OLD.id, OLD.status, NEW.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'quote_cart_items_forward_only';
        END IF;
        NEW.updated_at := now();
        RETURN NEW;
    END
    $$;

CREATE TRIGGER quote_cart_items_forward_only BEFORE UPDATE ON quote_cart_items
    FOR EACH ROW EXECUTE FUNCTION quote_cart_items_forward_only();

-- Row-level security -------------------------------------------------------------------

ALTER TABLE quotes ENABLE ROW LEVEL SECURITY;
ALTER TABLE quote_cart_items ENABLE ROW LEVEL SECURITY;

CREATE POLICY quotes_owner ON quotes TO parley_app
    USING (app_is_owner(owner_user_id, owner_anonymous_session_id))
    WITH CHECK (app_is_owner(owner_user_id, owner_anonymous_session_id));
CREATE POLICY quote_cart_items_owner ON quote_cart_items TO parley_app
    USING (app_is_owner(owner_user_id, owner_anonymous_session_id))
    WITH CHECK (app_is_owner(owner_user_id, owner_anonymous_session_id));
CREATE POLICY quotes_service ON quotes TO parley_service USING (true) WITH CHECK (true);
CREATE POLICY quote_cart_items_service ON quote_cart_items TO parley_service USING (true) WITH CHECK (true);

-- Prices are never updated by the API; only ownership (claim) and item status move.
GRANT SELECT, INSERT ON quotes, quote_cart_items TO parley_app;
GRANT UPDATE (owner_user_id) ON quotes TO parley_app;
GRANT UPDATE (owner_user_id, status, updated_at) ON quote_cart_items TO parley_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON quotes, quote_cart_items TO parley_service;
