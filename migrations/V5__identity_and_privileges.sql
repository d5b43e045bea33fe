-- Issue 13: any identity provider, claimed anonymous sessions refused, and the API role
-- narrowed to what it needs (ledger credits, the claim).

-- ---------------------------------------------------------------------------------------
-- Users: (issuer, subject) -> internal id.
-- A provider's subject is any string ("auth0|5f7c…", "user_2abc…", a Firebase uid). It is
-- mapped to an internal UUIDv7 on first sight; every other table keeps using the internal
-- id. A subject that is already a UUID is its own internal id (shared::platform::identity:
-- rows written before this migration are keyed on it, and one issuer is trusted), so it
-- needs no row here.
CREATE TABLE users (
    id         uuid PRIMARY KEY,
    issuer     text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 512),
    subject    text NOT NULL CHECK (length(subject) BETWEEN 1 AND 512),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_one_per_identity UNIQUE (issuer, subject)
);

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY users_self ON users FOR SELECT TO parley_app USING (id = app_user_id());
CREATE POLICY users_service ON users TO parley_service USING (true) WITH CHECK (true);
GRANT SELECT ON users TO parley_app;
GRANT SELECT, INSERT, DELETE ON users TO parley_service;

-- The internal id of (issuer, subject), created as p_new_id on first sight. One statement:
-- two concurrent first requests both land on the ON CONFLICT arbiter, the second waits
-- for the first and returns its id, so a subject can never get two ids. (DO UPDATE, not DO
-- NOTHING, so RETURNING yields the existing row too.) The API role may not write `users`
-- itself: only this function does, and only for a token it has verified.
CREATE FUNCTION user_id_for(p_issuer text, p_subject text, p_new_id uuid) RETURNS uuid
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        INSERT INTO users AS u (id, issuer, subject) VALUES (p_new_id, p_issuer, p_subject)
        ON CONFLICT (issuer, subject) DO UPDATE SET issuer = u.issuer
        RETURNING u.id
    $$;
REVOKE ALL ON FUNCTION user_id_for(text, text, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION user_id_for(text, text, uuid) TO parley_app;

-- ---------------------------------------------------------------------------------------
-- Anonymous sessions: a claimed session's token is refused.
-- shared::platform::db sends this with BEGIN and the RLS context (no round trip of its
-- own) whenever the caller is anonymous only; SQLSTATE PA401 becomes a 401.
CREATE FUNCTION app_require_live_session() RETURNS void
    LANGUAGE plpgsql STABLE SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF app_user_id() IS NULL AND EXISTS (
            SELECT 1 FROM anonymous_sessions s
            WHERE s.id = app_anonymous_session_id() AND s.claimed_at IS NOT NULL
        ) THEN
            RAISE EXCEPTION 'the anonymous session was claimed' USING ERRCODE = 'PA401';
        END IF;
    END
    $$;
GRANT EXECUTE ON FUNCTION app_require_live_session() TO parley_app;

-- The claim is the API role's only write to anonymous_sessions after creation: the caller
-- (user + anonymous token) claims its own session for itself, under a row lock, once.
-- Returns 'claimed', 'already_yours', 'taken' (another user's) or 'missing'.
CREATE FUNCTION claim_anonymous_session(p_session uuid) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_owner uuid;
    BEGIN
        IF app_user_id() IS NULL OR p_session IS DISTINCT FROM app_anonymous_session_id() THEN
            RAISE EXCEPTION 'a claim needs the user and the session''s own token' USING ERRCODE = 'insufficient_privilege';
        END IF;
        SELECT s.claimed_by_user_id INTO v_owner FROM anonymous_sessions s WHERE s.id = p_session FOR UPDATE;
        IF NOT FOUND THEN
            RETURN 'missing';
        ELSIF v_owner = app_user_id() THEN
            RETURN 'already_yours';
        ELSIF v_owner IS NOT NULL THEN
            RETURN 'taken';
        END IF;
        UPDATE anonymous_sessions SET claimed_by_user_id = app_user_id(), claimed_at = now() WHERE id = p_session;
        RETURN 'claimed';
    END
    $$;
REVOKE ALL ON FUNCTION claim_anonymous_session(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION claim_anonymous_session(uuid) TO parley_app;
REVOKE UPDATE ON anonymous_sessions FROM parley_app;

-- ---------------------------------------------------------------------------------------
-- Ledger: what the API role may post.
-- The deployment's stage, written by the migrate function from PARLEY_STAGE on every
-- deploy. It starts as 'prod' so that a database nobody labelled refuses the faucet.
CREATE TABLE deployment (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    stage     text NOT NULL DEFAULT 'prod' CHECK (stage ~ '^[a-z0-9-]{1,32}$')
);
INSERT INTO deployment DEFAULT VALUES;
GRANT SELECT ON deployment TO parley_app, parley_service;

-- ledger_post as before, plus who may post what:
--   * the API role only debits its own wallet for a purchase, and credits the faucet to
--     a wallet created in this very transaction (wallet-create), once, at most 1 000 000;
--   * every other credit (refund, faucet later) comes from the service role;
--   * no role gets faucet money where the deployment's stage is 'prod'.
CREATE OR REPLACE FUNCTION ledger_post(p_wallet uuid, p_amount bigint, p_reason text, p_reference text)
    RETURNS TABLE (outcome text, balance_cents bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_owner   uuid;
        v_created timestamptz;
        v_balance bigint;
        v_service boolean := pg_has_role(session_user, 'parley_service', 'MEMBER');
        v_tx      uuid := gen_random_uuid();
    BEGIN
        IF p_amount = 0 THEN
            RAISE EXCEPTION 'a posting must move money' USING ERRCODE = 'check_violation';
        END IF;
        IF p_reason = 'faucet' AND (SELECT d.stage FROM deployment d) = 'prod' THEN
            RAISE EXCEPTION 'the faucet is closed in production' USING ERRCODE = 'insufficient_privilege';
        END IF;
        SELECT w.user_id, w.balance_cents, w.created_at INTO v_owner, v_balance, v_created
            FROM user_wallets w WHERE w.id = p_wallet FOR UPDATE;
        IF NOT FOUND OR (NOT v_service AND v_owner IS DISTINCT FROM app_user_id()) THEN
            RAISE EXCEPTION 'no such wallet' USING ERRCODE = 'no_data_found';
        END IF;
        IF NOT v_service AND NOT (
            (p_reason = 'purchase' AND p_amount < 0)
            OR (p_reason = 'faucet' AND p_amount BETWEEN 1 AND 1000000
                AND p_reference = 'faucet:' || p_wallet AND v_created = now())
        ) THEN
            RAISE EXCEPTION 'the API role may only debit a purchase' USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF EXISTS (SELECT 1 FROM wallet_ledger l WHERE l.reference = p_reference AND l.account = 'wallet:' || p_wallet) THEN
            RETURN QUERY SELECT 'duplicate'::text, v_balance;
            RETURN;
        END IF;
        IF v_balance + p_amount < 0 THEN
            RETURN QUERY SELECT 'insufficient_funds'::text, v_balance;
            RETURN;
        END IF;
        UPDATE user_wallets w SET balance_cents = w.balance_cents + p_amount WHERE w.id = p_wallet
            RETURNING w.balance_cents INTO v_balance;
        INSERT INTO wallet_ledger (transaction_id, account, wallet_id, amount_cents, reason, reference) VALUES
            (v_tx, 'wallet:' || p_wallet, p_wallet, p_amount, p_reason, p_reference),
            (v_tx, 'system:' || p_reason, NULL, -p_amount, p_reason, p_reference);
        RETURN QUERY SELECT 'applied'::text, v_balance;
    END
    $$;
