-- Issue 13: message chain format 2 (docs/message-chain.md).
--
-- Every message written from now on is hashed in format 2: its text enters as an
-- HMAC-SHA256 keyed by a random per-message salt, and its `ui_elements` (the quote cards
-- and their prices) enter as the SHA-256 of their canonical JSON. Erasing a text erases
-- its salt too, so a short erased text ("yes", a phone number) cannot be found again by
-- hashing guesses. Messages already stored keep format 1 and verify as before.
ALTER TABLE conversation_messages
    ADD COLUMN chain_version smallint NOT NULL DEFAULT 1 CHECK (chain_version IN (1, 2)),
    ADD COLUMN content_salt bytea CHECK (content_salt IS NULL OR length(content_salt) = 32),
    ADD CONSTRAINT conversation_messages_salt_shape
        CHECK (chain_version = 2 OR content_salt IS NULL);
-- The default only labelled the rows already stored; every writer names its format.
ALTER TABLE conversation_messages ALTER COLUMN chain_version DROP DEFAULT;

-- As in V6, plus: the salt is erased with the text.
CREATE OR REPLACE FUNCTION erase_message(p_message uuid, p_reason text, p_request_id text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_conversation uuid;
    BEGIN
        IF p_reason IS NULL OR length(p_reason) NOT BETWEEN 1 AND 200 THEN
            RAISE EXCEPTION 'an erasure needs a reason (1-200 characters)' USING ERRCODE = 'check_violation';
        END IF;
        UPDATE conversation_messages m
           SET content = NULL,
               content_salt = NULL,
               tone = CASE
                   WHEN jsonb_typeof(m.tone -> 'indicators') = 'array' THEN jsonb_set(m.tone, '{indicators}',
                       (SELECT coalesce(jsonb_agg(i - 'text' ORDER BY n), '[]'::jsonb)
                          FROM jsonb_array_elements(m.tone -> 'indicators') WITH ORDINALITY AS e(i, n)))
                   ELSE m.tone END
         WHERE m.id = p_message AND m.content IS NOT NULL
        RETURNING m.conversation_id INTO v_conversation;
        IF NOT FOUND THEN
            RETURN false;
        END IF;
        INSERT INTO audit_log (id, actor_user_id, action, subject_type, subject_id, request_id, details)
        VALUES (gen_random_uuid(), app_user_id(), 'message.erased', 'message', p_message, p_request_id,
                jsonb_build_object('conversation_id', v_conversation, 'reason', p_reason, 'role', session_user));
        RETURN true;
    END
    $$;
