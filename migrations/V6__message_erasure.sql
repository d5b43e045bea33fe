-- Issue 13: stored messages change only through one audited erasure function.
--
-- The service role (webhooks, jobs) may read and append messages but no longer UPDATE or
-- DELETE them directly; deleting a conversation or an anonymous session still removes its
-- messages through ON DELETE CASCADE, which PostgreSQL runs as the tables' owner.
REVOKE UPDATE, DELETE ON conversation_messages FROM parley_service;

-- Erases one message's text: `content` becomes NULL (the chain keeps verifying, since
-- verification checks a text against its digest only when the text is present), the
-- quoted text of its stored tone indicators is removed (kind and span stay), and an
-- audit_log entry records who asked and why — never the text. Returns false when there
-- was nothing left to erase. The only way any runtime role changes a stored message.
CREATE FUNCTION erase_message(p_message uuid, p_reason text, p_request_id text) RETURNS boolean
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
REVOKE ALL ON FUNCTION erase_message(uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION erase_message(uuid, text, text) TO parley_service;
