-- SMS through Twilio: each user's verified phone, the outbound outbox with its delivery
-- status, and the inbound MessageSids already handled. See docs/sms.md.

-- At most one phone per user (the primary key); a number belongs to at most one user, so
-- an inbound SMS maps to one conversation owner.
CREATE TABLE user_phones (
    user_id       uuid PRIMARY KEY,
    phone_e164    text NOT NULL UNIQUE CHECK (phone_e164 ~ '^\+[1-9][0-9]{6,14}$'),
    verified_at   timestamptz NOT NULL,
    -- Set by STOP (or Twilio's 21610); cleared by START. Nothing is sent while set.
    opted_out_at  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The outbox. A row is written `pending` in the transaction of the effect that wants the
-- SMS; the sender moves it on after that transaction commits. Twilio's delivery statuses
-- then only move forward (trigger below).
CREATE TABLE sms_messages (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL,
    template        text NOT NULL,
    -- The rendered text; kept so a retry sends the same words. Never logged.
    body            text NOT NULL CHECK (length(body) BETWEEN 1 AND 1600),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN (
                        'pending', 'suppressed', 'failed_to_send',
                        'queued', 'sending', 'sent', 'delivered', 'read', 'undelivered', 'failed')),
    -- Why a row ended without reaching Twilio (`opted_out`, `unverified`, `sending_disabled`,
    -- `max_attempts`, `twilio_21610` …).
    reason          text,
    twilio_sid      text UNIQUE,
    error_code      integer,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- Idempotency for the effect that queued it (e.g. `order:<id>:confirmation`).
    dedupe_key      text UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX sms_messages_due ON sms_messages (next_attempt_at) WHERE status = 'pending';
CREATE INDEX sms_messages_user ON sms_messages (user_id);

-- The rank of a status: a callback may only raise it. `read` follows `delivered`;
-- `undelivered` and `failed` are final (rank 100), as are the outbox's own endings.
CREATE FUNCTION sms_status_rank(s text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT CASE s
            WHEN 'pending' THEN 0
            WHEN 'queued' THEN 10
            WHEN 'sending' THEN 20
            WHEN 'sent' THEN 30
            WHEN 'delivered' THEN 40
            WHEN 'read' THEN 50
            ELSE 100 -- undelivered, failed, suppressed, failed_to_send
        END
    $$;

-- Forward-only: an update that would lower the rank, or move a final row at all, is refused.
CREATE FUNCTION sms_messages_forward_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF NEW.status IS DISTINCT FROM OLD.status
           AND (sms_status_rank(OLD.status) = 100 OR sms_status_rank(NEW.status) < sms_status_rank(OLD.status)) THEN
            RAISE EXCEPTION 'sms_messages status cannot move from % to %', OLD.status, NEW.status
                USING ERRCODE = 'check_violation';
        END IF;
        NEW.updated_at := now();
        RETURN NEW;
    END
    $$;

CREATE TRIGGER sms_messages_forward_only BEFORE UPDATE ON sms_messages
    FOR EACH ROW EXECUTE FUNCTION sms_messages_forward_only();

-- Inbound SMS already handled: Twilio retries a webhook, and the same MessageSid must be
-- stored once. The primary key decides.
CREATE TABLE sms_inbound (
    message_sid  text PRIMARY KEY,
    user_id      uuid,
    received_at  timestamptz NOT NULL DEFAULT now()
);

-- Row-level security ------------------------------------------------------------------

ALTER TABLE user_phones ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_inbound ENABLE ROW LEVEL SECURITY;

-- The API (phone verification) sees and writes only the caller's phone.
CREATE POLICY user_phones_owner ON user_phones TO parley_app
    USING (user_id = app_user_id()) WITH CHECK (user_id = app_user_id());
-- Effects running as the caller may queue SMS for the caller only.
CREATE POLICY sms_messages_owner ON sms_messages TO parley_app
    USING (user_id = app_user_id()) WITH CHECK (user_id = app_user_id());

CREATE POLICY user_phones_service ON user_phones TO parley_service USING (true) WITH CHECK (true);
CREATE POLICY sms_messages_service ON sms_messages TO parley_service USING (true) WITH CHECK (true);
CREATE POLICY sms_inbound_service ON sms_inbound TO parley_service USING (true) WITH CHECK (true);

GRANT SELECT, INSERT, UPDATE, DELETE ON user_phones TO parley_app;
GRANT SELECT, INSERT ON sms_messages TO parley_app;

GRANT SELECT, UPDATE ON user_phones TO parley_service;
GRANT SELECT, INSERT, UPDATE ON sms_messages TO parley_service;
GRANT SELECT, INSERT ON sms_inbound TO parley_service;
