-- Conversations, their tamper-evident message chain, and chain verification results.
-- The encoding that message_hash covers is documented in docs/message-chain.md.

CREATE TABLE conversations (
    id                         uuid PRIMARY KEY,
    -- Exactly one owner is in force: the user once claimed (or created signed in),
    -- else the anonymous session. The session id is kept after a claim for provenance.
    owner_user_id              uuid,
    owner_anonymous_session_id uuid REFERENCES anonymous_sessions (id) ON DELETE CASCADE,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    -- The chain head: appends lock this row, so concurrent senders are serialized.
    message_count              integer NOT NULL DEFAULT 0 CHECK (message_count >= 0),
    head_hash                  bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
                               CHECK (length(head_hash) = 32),
    last_message_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT conversations_have_an_owner CHECK (owner_user_id IS NOT NULL OR owner_anonymous_session_id IS NOT NULL)
);

CREATE INDEX conversations_owner_user ON conversations (owner_user_id) WHERE owner_user_id IS NOT NULL;
CREATE INDEX conversations_owner_anonymous ON conversations (owner_anonymous_session_id)
    WHERE owner_anonymous_session_id IS NOT NULL;
CREATE INDEX conversations_last_message_at ON conversations (last_message_at);

CREATE TABLE conversation_messages (
    id              uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    chain_index     integer NOT NULL CHECK (chain_index >= 0),
    role            text NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    sender_kind     text NOT NULL CHECK (sender_kind IN ('user', 'anonymous', 'assistant')),
    sender_id       uuid,
    -- NULL once erased (account deletion); content_sha256 keeps the chain verifiable.
    content         text,
    content_sha256  bytea NOT NULL CHECK (length(content_sha256) = 32),
    ui_elements     jsonb NOT NULL DEFAULT '[]'::jsonb,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    tone            jsonb,
    created_at      timestamptz NOT NULL,
    prev_hash       bytea NOT NULL CHECK (length(prev_hash) = 32),
    message_hash    bytea NOT NULL CHECK (length(message_hash) = 32),
    CONSTRAINT conversation_messages_one_per_index UNIQUE (conversation_id, chain_index),
    CONSTRAINT conversation_messages_sender_shape CHECK ((sender_kind = 'assistant') = (sender_id IS NULL))
);

CREATE TABLE chain_verifications (
    id                  uuid PRIMARY KEY,
    conversation_id     uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    verified_at         timestamptz NOT NULL DEFAULT now(),
    valid               boolean NOT NULL,
    checked             integer NOT NULL,
    first_invalid_index integer,
    reason              text,
    -- What was verified: a later verification can tell whether history before this changed.
    head_count          integer NOT NULL,
    head_hash           bytea NOT NULL,
    CONSTRAINT chain_verifications_failure_shape CHECK (valid = (first_invalid_index IS NULL))
);

CREATE INDEX chain_verifications_latest ON chain_verifications (conversation_id, verified_at DESC);

-- Row-level security ------------------------------------------------------------------

ALTER TABLE conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversation_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE chain_verifications ENABLE ROW LEVEL SECURITY;

-- Whether the current caller owns a conversation. SECURITY INVOKER: it reads
-- conversations under the caller's own policies.
CREATE FUNCTION app_owns_conversation(owner_user uuid, owner_anonymous uuid) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
        SELECT CASE
            WHEN owner_user IS NOT NULL THEN owner_user = app_user_id()
            ELSE owner_anonymous = app_anonymous_session_id()
        END IS TRUE
    $$;

CREATE POLICY conversations_owner ON conversations TO parley_app
    USING (app_owns_conversation(owner_user_id, owner_anonymous_session_id))
    WITH CHECK (app_owns_conversation(owner_user_id, owner_anonymous_session_id));

CREATE POLICY conversation_messages_owner ON conversation_messages TO parley_app
    USING (EXISTS (SELECT 1 FROM conversations c WHERE c.id = conversation_id))
    WITH CHECK (EXISTS (SELECT 1 FROM conversations c WHERE c.id = conversation_id));

CREATE POLICY chain_verifications_owner ON chain_verifications TO parley_app
    USING (EXISTS (SELECT 1 FROM conversations c WHERE c.id = conversation_id));

CREATE POLICY conversations_service ON conversations TO parley_service USING (true) WITH CHECK (true);
CREATE POLICY conversation_messages_service ON conversation_messages TO parley_service USING (true) WITH CHECK (true);
CREATE POLICY chain_verifications_service ON chain_verifications TO parley_service USING (true) WITH CHECK (true);

-- The API appends messages and never edits them; only the chain head and the owner of a
-- conversation change.
GRANT SELECT, INSERT ON conversations TO parley_app;
GRANT UPDATE (owner_user_id, message_count, head_hash, last_message_at) ON conversations TO parley_app;
GRANT SELECT, INSERT ON conversation_messages TO parley_app;
GRANT SELECT ON chain_verifications TO parley_app;

GRANT SELECT, INSERT, UPDATE, DELETE ON conversations, conversation_messages TO parley_service;
GRANT SELECT, INSERT ON chain_verifications TO parley_service;
