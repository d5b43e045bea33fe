//! Conversations and their messages: validation, appending to the chain, history and
//! verification. Functions call these inside their request transaction.
//!
//! Guarantees:
//! - appends to one conversation are serialized by a row lock on the conversation (the
//!   chain head), so concurrent senders never fork the chain or skip an index, and
//!   `(conversation_id, chain_index)` is unique in the database as a second line;
//! - a conversation the caller cannot see is "not found" — row-level security decides,
//!   so someone else's conversation is indistinguishable from one that does not exist;
//! - history pages by chain index, which only grows, so pages are stable while others write.

use chrono::{DateTime, SubsecRound, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use uuid::Uuid;

use super::chain::{self, Sender, Stored, Verification, Verifier};
use crate::platform::db::{DbError, ToSql, Tx, Type};
use crate::platform::error::{ApiError, FieldError};

/// Longest message, in characters.
pub const MAX_CONTENT_CHARS: usize = 2000;

/// The text of a message: CRLF normalised to LF, trimmed, 1–2000 characters, no control
/// characters but newline and tab.
pub fn validate_content(raw: &str) -> Result<String, FieldError> {
    let text = raw.replace("\r\n", "\n");
    let text = text.trim();
    if text.is_empty() {
        return Err(FieldError::new("content", "must not be empty"));
    }
    let chars = text.chars().count();
    if chars > MAX_CONTENT_CHARS {
        return Err(FieldError::new(
            "content",
            format!("must be at most {MAX_CONTENT_CHARS} characters (got {chars})"),
        ));
    }
    if let Some(c) = text.chars().find(|c| c.is_control() && *c != '\n' && *c != '\t') {
        return Err(FieldError::new(
            "content",
            format!("must not contain control characters (found U+{:04X})", c as u32),
        ));
    }
    Ok(text.to_owned())
}

/// Who a caller's own messages are from: the user when signed in, else the anonymous
/// session. `None` for a request without credentials.
pub fn sender_of(caller: &crate::platform::identity::Caller) -> Option<Sender> {
    match (caller.user_id, caller.anonymous_session_id) {
        (Some(user), _) => Some(Sender::User(user)),
        (None, Some(anon)) => Some(Sender::Anonymous(anon)),
        (None, None) => None,
    }
}

/// A message as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub role: String,
    /// `None` once erased.
    pub content: Option<String>,
    pub chain_index: i32,
    pub prev_hash: String,
    pub message_hash: String,
    pub created_at: DateTime<Utc>,
    /// Rich content for the client: quote cards in the assistant's replies, else `[]`.
    pub ui_elements: serde_json::Value,
}

/// How full a conversation may get.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max_messages: u32,
    /// Messages this request will append, counting the one being appended.
    pub room: u32,
}

/// What to append.
pub struct NewMessage<'a> {
    pub role: &'a str,
    pub sender: Sender,
    pub content: &'a str,
    pub ui_elements: serde_json::Value,
    /// The tone analysis of a human message (`None` for the assistant's).
    pub tone: Option<serde_json::Value>,
}

/// Appends `msg` to `conversation_id`, or to a new conversation owned by `owner` when
/// `None`. `room` is how many messages this request will append in all (a message and its
/// reply: 2), so a conversation is refused before it would end on an unanswered message.
/// 404 for a conversation the caller cannot see; 409 when it is full.
pub async fn append(
    tx: &Tx,
    conversation_id: Option<Uuid>,
    owner: Sender,
    msg: &NewMessage<'_>,
    limit: Limit,
) -> Result<Message, ApiError> {
    let created_at = Utc::now().trunc_subsecs(6);
    let (conversation_id, index, prev_hash, is_new) = match conversation_id {
        None => (Uuid::now_v7(), 0i32, chain::GENESIS, true),
        Some(id) => {
            let head = tx
                .query_opt(
                    "SELECT message_count, head_hash FROM conversations WHERE id = $1 FOR UPDATE",
                    &[(&id, Type::UUID)],
                )
                .await?
                .ok_or_else(|| ApiError::not_found("no such conversation"))?;
            let count: i32 = head.get(0);
            if count as u32 + limit.room > limit.max_messages {
                return Err(ApiError::conflict(format!(
                    "this conversation has reached its limit of {} messages; start a new one",
                    limit.max_messages
                )));
            }
            let prev: Vec<u8> = head.get(1);
            let prev: chain::Hash = prev.try_into().map_err(|_| ApiError::internal())?;
            (id, count, prev, false)
        }
    };
    let salt = chain::new_salt();
    let content_sha256 = chain::salted_content_digest(&salt, msg.content);
    let format = chain::Format::V2 { ui_elements_sha256: chain::ui_elements_digest(&msg.ui_elements) };
    let link = chain::Link {
        format,
        conversation_id,
        chain_index: index as u64,
        role: msg.role,
        sender: msg.sender,
        content_sha256,
        created_at,
        prev_hash,
    };
    let hash = chain::message_hash(&link);
    let id = Uuid::now_v7();
    let sender_id = msg.sender.id();
    let (sender_kind, role) = (msg.sender.kind(), msg.role);
    let (hash_vec, prev_vec, digest_vec, salt_vec) =
        (hash.to_vec(), prev_hash.to_vec(), content_sha256.to_vec(), salt.to_vec());
    let version = format.version();
    let next_count = index + 1;

    let (owner_user, owner_anon) = match owner {
        Sender::User(u) => (Some(u), None),
        Sender::Anonymous(a) => (None, Some(a)),
        Sender::Assistant => return Err(ApiError::internal()),
    };
    let insert_head = [
        (&conversation_id as &(dyn ToSql + Sync), Type::UUID),
        (&owner_user, Type::UUID),
        (&owner_anon, Type::UUID),
        (&created_at, Type::TIMESTAMPTZ),
        (&next_count, Type::INT4),
        (&hash_vec, Type::BYTEA),
    ];
    let update_head = [
        (&conversation_id as &(dyn ToSql + Sync), Type::UUID),
        (&created_at, Type::TIMESTAMPTZ),
        (&next_count, Type::INT4),
        (&hash_vec, Type::BYTEA),
    ];
    let write_head = if is_new {
        tx.execute(
            "INSERT INTO conversations \
             (id, owner_user_id, owner_anonymous_session_id, created_at, message_count, head_hash, last_message_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $4)",
            &insert_head,
        )
    } else {
        tx.execute(
            "UPDATE conversations SET last_message_at = $2, message_count = $3, head_hash = $4 WHERE id = $1",
            &update_head,
        )
    };
    let message = [
        (&id as &(dyn ToSql + Sync), Type::UUID),
        (&conversation_id, Type::UUID),
        (&index, Type::INT4),
        (&role, Type::TEXT),
        (&sender_kind, Type::TEXT),
        (&sender_id, Type::UUID),
        (&msg.content, Type::TEXT),
        (&digest_vec, Type::BYTEA),
        (&msg.ui_elements, Type::JSONB),
        (&msg.tone, Type::JSONB),
        (&created_at, Type::TIMESTAMPTZ),
        (&prev_vec, Type::BYTEA),
        (&hash_vec, Type::BYTEA),
        (&version, Type::INT2),
        (&salt_vec, Type::BYTEA),
    ];
    // The head and the message are written in one round trip (pipelined).
    let write_message = tx.execute(
        "INSERT INTO conversation_messages \
         (id, conversation_id, chain_index, role, sender_kind, sender_id, content, content_sha256, ui_elements, \
          tone, created_at, prev_hash, message_hash, chain_version, content_salt) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        &message,
    );
    let (head_rows, _) = tokio::try_join!(write_head, write_message).map_err(|e| match e.unique_violation() {
        // Unreachable while the head lock holds; a clear 409 if it ever does not.
        Some(_) => ApiError::conflict("another message took this position in the conversation; retry"),
        None => e.into(),
    })?;
    if head_rows != 1 {
        return Err(
            ApiError::internal().with_source(DbError::Unavailable("the conversation head was not written".into()))
        );
    }
    Ok(Message {
        id,
        conversation_id,
        role: role.to_owned(),
        content: Some(msg.content.to_owned()),
        chain_index: index,
        prev_hash: hex::encode(prev_hash),
        message_hash: hex::encode(hash),
        created_at,
        ui_elements: msg.ui_elements.clone(),
    })
}

const MESSAGE_COLUMNS: &str =
    "id, conversation_id, role, content, chain_index, prev_hash, message_hash, created_at, ui_elements";

fn message_from_row(row: &tokio_postgres::Row) -> Message {
    let prev: Vec<u8> = row.get(5);
    let hash: Vec<u8> = row.get(6);
    Message {
        id: row.get(0),
        conversation_id: row.get(1),
        role: row.get(2),
        content: row.get(3),
        chain_index: row.get(4),
        prev_hash: hex::encode(prev),
        message_hash: hex::encode(hash),
        created_at: row.get(7),
        ui_elements: row.get(8),
    }
}

/// The `{id}` path parameter of a conversation route. A malformed id cannot name a
/// conversation, so it is a 404 like any other conversation the caller cannot see.
pub fn conversation_id(req: &crate::platform::http::Request) -> Result<Uuid, ApiError> {
    crate::platform::http::path_param(req, "id")?.parse().map_err(|_| ApiError::not_found("no such conversation"))
}

/// One page of history, oldest first.
#[derive(Debug, Serialize)]
pub struct Page {
    pub messages: Vec<Message>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A history cursor: the last chain index the client has seen, opaque to clients.
pub fn encode_cursor(chain_index: i32) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{chain_index}"))
}

pub fn decode_cursor(cursor: &str) -> Option<i32> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
    std::str::from_utf8(&raw).ok()?.strip_prefix("v1:")?.parse().ok().filter(|i: &i32| *i >= 0)
}

/// Messages after `after` (exclusive), at most `limit`. 404 for an invisible conversation.
pub async fn history(tx: &Tx, conversation_id: Uuid, after: Option<i32>, limit: u32) -> Result<Page, ApiError> {
    let after = after.unwrap_or(-1);
    // Chain indexes are dense (0, 1, 2, …), so the page is a bounded index range: at most
    // `limit + 1` rows are read whatever plan the database picks. (An open-ended
    // `chain_index > $2 … LIMIT` let a planner that underestimates a long conversation read
    // and sort all of it — each row also paying the row-level-security check.)
    let upper = after.saturating_add(limit as i32 + 1);
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM conversation_messages \
         WHERE conversation_id = $1 AND chain_index > $2 AND chain_index <= $3 ORDER BY chain_index"
    );
    let by_id = [(&conversation_id as &(dyn ToSql + Sync), Type::UUID)];
    let page = [(&conversation_id as &(dyn ToSql + Sync), Type::UUID), (&after, Type::INT4), (&upper, Type::INT4)];
    let (head, rows) = tokio::try_join!(
        tx.query_opt("SELECT message_count FROM conversations WHERE id = $1", &by_id),
        tx.query(&sql, &page),
    )?;
    let Some(head) = head else {
        return Err(ApiError::not_found("no such conversation"));
    };
    let count: i32 = head.get(0);
    let mut messages: Vec<Message> = rows.iter().map(message_from_row).collect();
    let next_cursor = if messages.len() > limit as usize {
        messages.truncate(limit as usize);
        messages.last().map(|m| encode_cursor(m.chain_index))
    } else if count - 1 > upper {
        // A short page with more after it: only a tampered chain has gaps, and its later
        // messages are still listed.
        Some(encode_cursor(upper))
    } else {
        None
    };
    Ok(Page { messages, next_cursor })
}

/// The chain head a verification checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub count: i32,
    pub hash: Vec<u8>,
}

/// Recomputes the chain of `conversation_id`, streaming its messages, and returns the
/// verdict with the head it was checked against. `None` when the conversation is not
/// visible to the transaction's role. Run it in a snapshot transaction
/// ([`Database::begin_snapshot`](crate::platform::db::Database::begin_snapshot)): the head and the
/// messages must come from one moment, or a concurrent append looks like tampering.
pub async fn verify(tx: &Tx, conversation_id: Uuid) -> Result<Option<(Verification, Head)>, DbError> {
    let Some(head) = tx
        .query_opt(
            "SELECT message_count, head_hash FROM conversations WHERE id = $1",
            &[(&conversation_id, Type::UUID)],
        )
        .await?
    else {
        return Ok(None);
    };
    let (count, head_hash): (i32, Vec<u8>) = (head.get(0), head.get(1));
    let stream = tx
        .stream(
            "SELECT chain_index, role, sender_kind, sender_id, content, content_sha256, created_at, prev_hash, \
             message_hash, chain_version, content_salt, ui_elements FROM conversation_messages WHERE conversation_id = $1 ORDER BY chain_index",
            &[(&conversation_id, Type::UUID)],
        )
        .await?;
    futures::pin_mut!(stream);
    let mut verifier = Verifier::new(conversation_id);
    while let Some(row) = stream.try_next().await? {
        let stored = Stored {
            version: row.get(9),
            content_salt: row.get(10),
            ui_elements: row.get(11),
            chain_index: i64::from(row.get::<_, i32>(0)),
            role: row.get(1),
            sender_kind: row.get(2),
            sender_id: row.get(3),
            content: row.get(4),
            content_sha256: row.get(5),
            created_at: row.get(6),
            prev_hash: row.get(7),
            message_hash: row.get(8),
        };
        if !verifier.push(&stored) {
            break;
        }
    }
    let verdict = verifier.finish(count.max(0) as u64, &head_hash);
    Ok(Some((verdict, Head { count, hash: head_hash })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_trimmed_and_crlf_normalised() {
        assert_eq!(validate_content("  hi\r\nthere \t").unwrap(), "hi\nthere");
    }

    #[test]
    fn empty_or_blank_content_is_refused() {
        for c in ["", "   ", "\n\t"] {
            assert_eq!(validate_content(c).unwrap_err().field, "content");
        }
    }

    #[test]
    fn the_length_limit_counts_characters_not_bytes() {
        assert!(validate_content(&"é".repeat(2000)).is_ok());
        assert!(validate_content(&"é".repeat(2001)).unwrap_err().message.contains("2001"));
    }

    #[test]
    fn control_characters_other_than_newline_and_tab_are_refused() {
        assert!(validate_content("a\tb\nc").is_ok());
        for bad in ["a\u{0}b", "bell\u{7}", "esc\u{1b}[31m", "a\rb", "del\u{7f}"] {
            assert!(validate_content(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_cursor_round_trips_and_garbage_is_rejected() {
        assert_eq!(decode_cursor(&encode_cursor(41)), Some(41));
        assert_eq!(decode_cursor("nope"), None);
        assert_eq!(decode_cursor(&encode_cursor(-1)), None);
    }
}
