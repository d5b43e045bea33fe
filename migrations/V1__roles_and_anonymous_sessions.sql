-- Roles, the RLS context helpers, and anonymous sessions.
--
-- Two NOLOGIN roles carry every privilege; deployments give login users membership
-- (GRANT parley_app TO <login>), the local stack logs in as the roles themselves.
--   parley_app     - API functions. Subject to row-level security on every user table.
--   parley_service - webhooks and scheduled jobs. Explicit "service" policies, no BYPASSRLS
--                    (RDS does not grant it, and explicit policies say what the role may do).
-- Tables are owned by the migration user, which no function uses at run time.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'parley_app') THEN
        CREATE ROLE parley_app NOLOGIN NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'parley_service') THEN
        CREATE ROLE parley_service NOLOGIN NOBYPASSRLS;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO parley_app, parley_service;

-- The caller, as set per transaction by shared::db (set_config(..., true)).
-- NULL when unset, so "column = app_user_id()" is never true for nobody.
CREATE FUNCTION app_user_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;

CREATE FUNCTION app_anonymous_session_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('app.anonymous_session_id', true), '')::uuid $$;

CREATE TABLE anonymous_sessions (
    id                 uuid PRIMARY KEY,
    created_at         timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL,
    claimed_by_user_id uuid,
    claimed_at         timestamptz,
    CONSTRAINT anonymous_sessions_expiry_after_creation CHECK (expires_at > created_at),
    CONSTRAINT anonymous_sessions_claim_complete CHECK ((claimed_by_user_id IS NULL) = (claimed_at IS NULL))
);

-- The sweep job looks for unclaimed sessions past expiry.
CREATE INDEX anonymous_sessions_unclaimed_expiry ON anonymous_sessions (expires_at)
    WHERE claimed_by_user_id IS NULL;

ALTER TABLE anonymous_sessions ENABLE ROW LEVEL SECURITY;

-- A visitor sees (and creates) only its own session; after a claim, the user sees it too.
CREATE POLICY anonymous_sessions_caller ON anonymous_sessions TO parley_app
    USING (id = app_anonymous_session_id() OR claimed_by_user_id = app_user_id())
    WITH CHECK (id = app_anonymous_session_id() OR claimed_by_user_id = app_user_id());

CREATE POLICY anonymous_sessions_service ON anonymous_sessions TO parley_service
    USING (true) WITH CHECK (true);

GRANT SELECT, INSERT, UPDATE ON anonymous_sessions TO parley_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON anonymous_sessions TO parley_service;
