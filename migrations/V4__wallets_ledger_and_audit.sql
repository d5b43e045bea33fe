-- Custodial wallets, their double-entry ledger, and the audit log.
-- The key format is documented in docs/key-custody.md.

CREATE TABLE user_wallets (
    id                    uuid PRIMARY KEY,
    user_id               uuid NOT NULL,
    -- EIP-55 checksummed address of the wallet's secp256k1 key.
    address               text NOT NULL CHECK (address ~ '^0x[0-9a-fA-F]{40}$'),
    -- KMS ciphertext of the 32-byte private key (format 1); never the plaintext.
    encrypted_private_key bytea NOT NULL,
    kms_key_id            text NOT NULL,
    key_format            smallint NOT NULL DEFAULT 1 CHECK (key_format = 1),
    -- Incremented by every rewrap.
    key_version           integer NOT NULL DEFAULT 1 CHECK (key_version >= 1),
    -- A cache of the ledger's sum, kept in step by ledger_post() in the same transaction.
    balance_cents         bigint NOT NULL DEFAULT 0 CHECK (balance_cents >= 0),
    currency              char(3) NOT NULL DEFAULT 'USD',
    created_at            timestamptz NOT NULL DEFAULT now(),
    rewrapped_at          timestamptz,
    CONSTRAINT user_wallets_one_per_user UNIQUE (user_id),
    CONSTRAINT user_wallets_one_per_address UNIQUE (address)
);

CREATE INDEX user_wallets_kms_key ON user_wallets (kms_key_id);

-- Double entry: every posting is two rows of one transaction that sum to zero, one on the
-- wallet's account and one on a system account named after the reason.
CREATE TABLE wallet_ledger (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    transaction_id uuid NOT NULL,
    account        text NOT NULL CHECK (account ~ '^(wallet:[0-9a-f-]{36}|system:[a-z_]+)$'),
    wallet_id      uuid REFERENCES user_wallets (id),
    amount_cents   bigint NOT NULL CHECK (amount_cents <> 0),
    currency       char(3) NOT NULL DEFAULT 'USD',
    reason         text NOT NULL CHECK (reason IN ('faucet', 'purchase', 'refund')),
    reference      text NOT NULL CHECK (length(reference) BETWEEN 1 AND 200),
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- Idempotent by reference: one posting per reference and account.
    CONSTRAINT wallet_ledger_once_per_reference UNIQUE (reference, account)
);

CREATE INDEX wallet_ledger_wallet ON wallet_ledger (wallet_id, created_at) WHERE wallet_id IS NOT NULL;
CREATE INDEX wallet_ledger_transaction ON wallet_ledger (transaction_id);

-- The only way to move money. Credits (amount > 0) or debits (amount < 0) a wallet against
-- the system account for `reason`, idempotently by `reference`, and never below zero — the
-- wallet row is locked, so concurrent postings are serialized. The API role may post only
-- to its own user's wallet. Returns the outcome and the balance after it.
CREATE FUNCTION ledger_post(p_wallet uuid, p_amount bigint, p_reason text, p_reference text)
    RETURNS TABLE (outcome text, balance_cents bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_owner   uuid;
        v_balance bigint;
        v_tx      uuid := gen_random_uuid();
    BEGIN
        IF p_amount = 0 THEN
            RAISE EXCEPTION 'a posting must move money' USING ERRCODE = 'check_violation';
        END IF;
        SELECT w.user_id, w.balance_cents INTO v_owner, v_balance FROM user_wallets w WHERE w.id = p_wallet FOR UPDATE;
        IF NOT FOUND OR (NOT pg_has_role(session_user, 'parley_service', 'MEMBER') AND v_owner IS DISTINCT FROM app_user_id()) THEN
            RAISE EXCEPTION 'no such wallet' USING ERRCODE = 'no_data_found';
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

REVOKE ALL ON FUNCTION ledger_post(uuid, bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_post(uuid, bigint, text, text) TO parley_app, parley_service;

CREATE TABLE audit_log (
    id            uuid PRIMARY KEY,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    actor_user_id uuid,
    action        text NOT NULL,
    subject_type  text NOT NULL,
    subject_id    uuid,
    request_id    text,
    -- Hashes and counts only: never key material, message text or tokens.
    details       jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX audit_log_subject ON audit_log (subject_type, subject_id, occurred_at);

ALTER TABLE user_wallets ENABLE ROW LEVEL SECURITY;
ALTER TABLE wallet_ledger ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;

CREATE POLICY user_wallets_owner ON user_wallets TO parley_app
    USING (user_id = app_user_id()) WITH CHECK (user_id = app_user_id());
CREATE POLICY wallet_ledger_owner ON wallet_ledger FOR SELECT TO parley_app
    USING (wallet_id IN (SELECT id FROM user_wallets));
CREATE POLICY audit_log_actor ON audit_log FOR INSERT TO parley_app
    WITH CHECK (actor_user_id = app_user_id());
CREATE POLICY user_wallets_service ON user_wallets TO parley_service USING (true) WITH CHECK (true);
CREATE POLICY wallet_ledger_service ON wallet_ledger FOR SELECT TO parley_service USING (true);
CREATE POLICY audit_log_service ON audit_log TO parley_service USING (true) WITH CHECK (true);

GRANT SELECT, INSERT ON user_wallets TO parley_app;
GRANT SELECT ON wallet_ledger TO parley_app;
GRANT INSERT ON audit_log TO parley_app;
GRANT SELECT ON user_wallets, wallet_ledger TO parley_service;
GRANT UPDATE (encrypted_private_key, kms_key_id, key_version, rewrapped_at) ON user_wallets TO parley_service;
GRANT SELECT, INSERT ON audit_log TO parley_service;
