//! Inbound SMS: opt-out keywords, and everything else as a chat message from the sender.
//!
//! Guarantees: the answer is always TwiML (at least `<Response/>`), its text XML-escaped;
//! STOP-family keywords opt the sender out, START/UNSTOP opt back in, HELP answers a help
//! text; a sender who is no user's verified phone gets an empty answer and nothing is
//! stored; otherwise the body goes the same way as `POST /v1/chat/messages` — tone policy,
//! then the user's message and the assistant's answer appended to the chain of the user's
//! most recent conversation (or a new one) in one transaction — and a `MessageSid` is
//! stored once (a retried webhook appends nothing). A refused message stores nothing and is
//! answered with the neutral rewrite. Bodies are never logged.

use chrono::Utc;
use uuid::Uuid;

use super::phone::Phone;
use crate::chat;
use crate::chat::turn::{ChatSettings, Turn};
use crate::platform::db::{Database, Type};
use crate::platform::error::ApiError;
use crate::platform::identity::Caller;

pub const HELP_TEXT: &str =
    "Parley: chat with us by SMS about flight delay cover. Reply STOP to opt out, START to opt back in.";

/// What an inbound body asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Keyword {
    OptOut,
    OptIn,
    Help,
}

/// Twilio's standard keywords, matched on the whole trimmed body, case-insensitively.
pub fn keyword(body: &str) -> Option<Keyword> {
    match body.trim().to_ascii_uppercase().as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" => Some(Keyword::OptOut),
        "START" | "UNSTOP" | "YES" => Some(Keyword::OptIn),
        "HELP" | "INFO" => Some(Keyword::Help),
        _ => None,
    }
}

/// TwiML answering with `message`, or an empty `<Response/>`.
pub fn twiml(message: Option<&str>) -> String {
    match message {
        None => r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#.to_owned(),
        Some(text) => format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>{}</Message></Response>"#,
            xml_escape(text)
        ),
    }
}

/// Escapes text for an XML element (hand-written: five characters, no crate needed).
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// What the inbound webhook needs to run a chat turn.
#[derive(Clone)]
pub struct Conversation {
    /// The service role's pool.
    pub db: Database,
    pub chat: ChatSettings,
}

/// Handles one verified inbound SMS; returns the TwiML answer. `deadline` is when the
/// invocation ends: the tone provider must answer (or fall back) before it.
pub async fn handle(
    conv: &Conversation,
    message_sid: &str,
    from: &str,
    body: &str,
    deadline: std::time::SystemTime,
) -> Result<String, ApiError> {
    let Some(phone) = Phone::from_e164(from) else {
        tracing::warn!("inbound SMS from an unparseable sender ignored");
        return Ok(twiml(None));
    };
    if let Some(kw) = keyword(body) {
        return opt(conv, &phone, kw).await;
    }
    let user = {
        let tx = conv.db.begin_service_single().await?;
        let row = tx
            .query_opt(
                "SELECT user_id FROM user_phones WHERE phone_e164 = $1 AND opted_out_at IS NULL",
                &[(&phone.e164(), Type::TEXT)],
            )
            .await?;
        tx.commit().await?;
        row.map(|r| r.get::<_, Uuid>(0))
    };
    let Some(user_id) = user else {
        tracing::info!(from = %phone, "inbound SMS from a number that is no user's verified phone ignored");
        return Ok(twiml(None));
    };
    let content = match chat::validate_content(body) {
        Ok(c) => c,
        Err(e) => return Ok(twiml(Some(&format!("Parley: your message was not sent: {}.", e.message)))),
    };
    let screened = conv.chat.screen(&content, deadline).await;
    if screened.refused() {
        tracing::info!(%user_id, "inbound SMS refused by the tone policy; nothing stored");
        let text = match &screened.tone.analysis.neutral_rewrite {
            Some(rewrite) => format!("Parley: your message was not sent because of its tone. You could say: {rewrite}"),
            None => "Parley: your message was not sent because of its tone. Please rephrase it.".to_owned(),
        };
        return Ok(twiml(Some(&text)));
    }
    let caller = Caller::user(user_id);
    let tx = conv.db.begin(&caller).await?;
    let first = tx
        .query_opt(
            "INSERT INTO sms_inbound (message_sid, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
            &[(&message_sid, Type::TEXT), (&user_id, Type::UUID)],
        )
        .await?;
    if first.is_none() {
        tracing::info!(message_sid, "inbound SMS already handled");
        return Ok(twiml(None));
    }
    // The user's most recent conversation with room for a message and its answer.
    let room = (conv.chat.max_messages as i32).saturating_sub(2);
    let conversation: Option<Uuid> = tx
        .query_opt(
            "SELECT id FROM conversations WHERE owner_user_id = $1 AND message_count <= $2
             ORDER BY last_message_at DESC LIMIT 1",
            &[(&user_id, Type::UUID), (&room, Type::INT4)],
        )
        .await?
        .map(|r| r.get(0));
    let Turn { message, reply } =
        conv.chat.append_turn(&tx, &caller, conversation, &content, &screened, Utc::now()).await?;
    tx.commit().await?;
    tracing::info!(%user_id, conversation_id = %message.conversation_id, "inbound SMS appended to the conversation");
    // The assistant's text already lists the quotes (cards as text) — SMS has no cards.
    Ok(twiml(reply.content.as_deref()))
}

async fn opt(conv: &Conversation, phone: &Phone, kw: Keyword) -> Result<String, ApiError> {
    let sql = match kw {
        Keyword::Help => return Ok(twiml(Some(HELP_TEXT))),
        Keyword::OptOut => {
            "UPDATE user_phones SET opted_out_at = now(), updated_at = now()
             WHERE phone_e164 = $1 AND opted_out_at IS NULL"
        }
        Keyword::OptIn => {
            "UPDATE user_phones SET opted_out_at = NULL, updated_at = now()
             WHERE phone_e164 = $1 AND opted_out_at IS NOT NULL"
        }
    };
    let tx = conv.db.begin_service_single().await?;
    let changed = tx.execute(sql, &[(&phone.e164(), Type::TEXT)]).await?;
    tx.commit().await?;
    tracing::info!(from = %phone, keyword = ?kw, changed, "SMS opt keyword");
    // Twilio answers STOP/START itself on long codes (Advanced Opt-Out); answering again
    // would send the person two confirmations.
    Ok(twiml(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_family_keywords_opt_out_whatever_their_case() {
        for k in ["STOP", "stop", " StopAll ", "UNSUBSCRIBE", "cancel", "END", "quit"] {
            assert_eq!(keyword(k), Some(Keyword::OptOut), "{k}");
        }
        assert_eq!(keyword("start"), Some(Keyword::OptIn));
        assert_eq!(keyword("UNSTOP"), Some(Keyword::OptIn));
        assert_eq!(keyword("help"), Some(Keyword::Help));
        assert_eq!(keyword("please stop the delays"), None);
    }

    #[test]
    fn twiml_is_never_empty_and_escapes_text() {
        assert_eq!(twiml(None), r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#);
        let t = twiml(Some("a < b & \"c\""));
        assert!(t.contains("<Message>a &lt; b &amp; &quot;c&quot;</Message>"), "{t}");
    }
}
