//! The tamper-evident message chain (`docs/message-chain.md` documents it byte by byte).
//!
//! Guarantees:
//! - [`message_hash`] is SHA-256 over an unambiguous encoding: every field is a 4-byte
//!   big-endian length followed by its bytes, after a version tag, so no two different
//!   messages encode alike;
//! - the content enters only as its SHA-256 digest, stored beside the text, so erasing a
//!   text later (account deletion) leaves the chain verifiable;
//! - [`Verifier`] checks messages one at a time, in index order, holding O(1) state, and
//!   names the first index that breaks: an edited text, an edited field, a deleted,
//!   reordered or inserted message, or a chain shorter or longer than its head says.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Tag that starts every encoded message; a new encoding gets a new tag.
pub const VERSION_TAG: &[u8] = b"parley-chain-v1";

/// `prev_hash` of the first message.
pub const GENESIS: [u8; 32] = [0; 32];

pub type Hash = [u8; 32];

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    User(Uuid),
    Anonymous(Uuid),
    Assistant,
}

impl Sender {
    /// The stored form: `(sender_kind, sender_id)`.
    pub fn kind(&self) -> &'static str {
        match self {
            Sender::User(_) => "user",
            Sender::Anonymous(_) => "anonymous",
            Sender::Assistant => "assistant",
        }
    }

    pub fn id(&self) -> Option<Uuid> {
        match self {
            Sender::User(id) | Sender::Anonymous(id) => Some(*id),
            Sender::Assistant => None,
        }
    }

    pub fn from_stored(kind: &str, id: Option<Uuid>) -> Option<Self> {
        match (kind, id) {
            ("user", Some(id)) => Some(Sender::User(id)),
            ("anonymous", Some(id)) => Some(Sender::Anonymous(id)),
            ("assistant", None) => Some(Sender::Assistant),
            _ => None,
        }
    }

    /// The encoded form: `user:<uuid>`, `anonymous:<uuid>` or `assistant`.
    pub fn encoded(&self) -> String {
        match self {
            Sender::User(id) => format!("user:{id}"),
            Sender::Anonymous(id) => format!("anonymous:{id}"),
            Sender::Assistant => "assistant".to_owned(),
        }
    }
}

/// Everything a message's hash covers.
#[derive(Debug, Clone)]
pub struct Link<'a> {
    pub conversation_id: Uuid,
    pub chain_index: u64,
    pub role: &'a str,
    pub sender: Sender,
    pub content_sha256: Hash,
    /// Microsecond precision (what PostgreSQL stores); finer digits are not hashed.
    pub created_at: DateTime<Utc>,
    pub prev_hash: Hash,
}

pub fn content_digest(content: &str) -> Hash {
    Sha256::digest(content.as_bytes()).into()
}

/// The exact bytes that are hashed.
pub fn encode(link: &Link<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut field = |bytes: &[u8]| {
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    };
    field(VERSION_TAG);
    field(link.conversation_id.as_bytes());
    field(&link.chain_index.to_be_bytes());
    field(link.role.as_bytes());
    field(link.sender.encoded().as_bytes());
    field(&link.content_sha256);
    field(&link.created_at.timestamp_micros().to_be_bytes());
    field(&link.prev_hash);
    out
}

pub fn message_hash(link: &Link<'_>) -> Hash {
    Sha256::digest(encode(link)).into()
}

/// One stored message, as verification reads it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub chain_index: i64,
    pub role: String,
    pub sender_kind: String,
    pub sender_id: Option<Uuid>,
    /// `None` once erased.
    pub content: Option<String>,
    pub content_sha256: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub prev_hash: Vec<u8>,
    pub message_hash: Vec<u8>,
}

/// The outcome of verifying one conversation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    pub valid: bool,
    pub checked: u64,
    pub first_invalid_index: Option<u64>,
    pub reason: Option<String>,
}

/// Verifies a conversation's messages fed in `chain_index` order.
#[derive(Debug)]
pub struct Verifier {
    conversation_id: Uuid,
    next_index: u64,
    prev_hash: Hash,
    checked: u64,
    failure: Option<(u64, String)>,
}

impl Verifier {
    pub fn new(conversation_id: Uuid) -> Self {
        Self { conversation_id, next_index: 0, prev_hash: GENESIS, checked: 0, failure: None }
    }

    /// Checks the next message. Returns `false` once the chain is broken (stop feeding).
    pub fn push(&mut self, m: &Stored) -> bool {
        if self.failure.is_some() {
            return false;
        }
        let at = self.next_index;
        if let Err(reason) = self.check(m) {
            self.failure = Some((at, reason));
            return false;
        }
        self.checked += 1;
        self.next_index += 1;
        true
    }

    fn check(&mut self, m: &Stored) -> Result<(), String> {
        let at = self.next_index;
        if m.chain_index != at as i64 {
            return Err(if m.chain_index > at as i64 {
                format!("message {at} is missing (found {} next)", m.chain_index)
            } else {
                format!("message {} appears out of order or twice", m.chain_index)
            });
        }
        if m.prev_hash.as_slice() != self.prev_hash {
            return Err(format!("message {at} does not link to message {}", at.wrapping_sub(1)));
        }
        let content_sha256: Hash = m
            .content_sha256
            .as_slice()
            .try_into()
            .map_err(|_| format!("message {at} has a malformed content digest"))?;
        if let Some(text) = &m.content
            && content_digest(text) != content_sha256
        {
            return Err(format!("message {at}'s content does not match its digest"));
        }
        let sender = Sender::from_stored(&m.sender_kind, m.sender_id)
            .ok_or_else(|| format!("message {at} has a malformed sender"))?;
        let link = Link {
            conversation_id: self.conversation_id,
            chain_index: at,
            role: &m.role,
            sender,
            content_sha256,
            created_at: m.created_at,
            prev_hash: self.prev_hash,
        };
        let hash = message_hash(&link);
        if m.message_hash.as_slice() != hash {
            return Err(format!("message {at}'s hash does not match its fields"));
        }
        self.prev_hash = hash;
        Ok(())
    }

    /// The result, checked against the conversation's head (its message count and last
    /// hash), which catches messages removed from the end.
    pub fn finish(self, head_count: u64, head_hash: &[u8]) -> Verification {
        use std::cmp::Ordering;
        let failure = self.failure.or_else(|| match self.checked.cmp(&head_count) {
            Ordering::Less => {
                Some((self.checked, format!("message {} is missing (the conversation has {head_count})", self.checked)))
            }
            Ordering::Greater => Some((
                head_count,
                format!("message {head_count} is not part of the conversation (it has {head_count})"),
            )),
            Ordering::Equal if head_hash != self.prev_hash => Some((
                self.checked.saturating_sub(1),
                "the last message does not match the conversation's head".to_owned(),
            )),
            Ordering::Equal => None,
        });
        match failure {
            None => Verification { valid: true, checked: self.checked, first_invalid_index: None, reason: None },
            Some((index, reason)) => Verification {
                valid: false,
                checked: self.checked,
                first_invalid_index: Some(index),
                reason: Some(reason),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation() -> Uuid {
        Uuid::parse_str("01932c07-a000-7000-8000-000000000001").unwrap()
    }

    /// A valid chain of `n` messages, as stored.
    fn chain(n: u64) -> Vec<Stored> {
        let user = Uuid::parse_str("01932c07-a000-7000-8000-0000000000aa").unwrap();
        let mut prev = GENESIS;
        (0..n)
            .map(|i| {
                let content = format!("message number {i}");
                let created_at = DateTime::from_timestamp_micros(1_795_305_600_000_000 + i as i64).unwrap();
                let link = Link {
                    conversation_id: conversation(),
                    chain_index: i,
                    role: "user",
                    sender: Sender::User(user),
                    content_sha256: content_digest(&content),
                    created_at,
                    prev_hash: prev,
                };
                let hash = message_hash(&link);
                let stored = Stored {
                    chain_index: i as i64,
                    role: "user".into(),
                    sender_kind: "user".into(),
                    sender_id: Some(user),
                    content: Some(content),
                    content_sha256: link.content_sha256.to_vec(),
                    created_at,
                    prev_hash: prev.to_vec(),
                    message_hash: hash.to_vec(),
                };
                prev = hash;
                stored
            })
            .collect()
    }

    fn verify(messages: &[Stored], head_count: u64, head_hash: &[u8]) -> Verification {
        let mut v = Verifier::new(conversation());
        for m in messages {
            if !v.push(m) {
                break;
            }
        }
        v.finish(head_count, head_hash)
    }

    fn head(c: &[Stored]) -> (u64, Vec<u8>) {
        (c.len() as u64, c.last().map(|m| m.message_hash.clone()).unwrap_or(GENESIS.to_vec()))
    }

    #[test]
    fn an_untouched_chain_is_valid() {
        let c = chain(5);
        let (n, h) = head(&c);
        assert_eq!(
            verify(&c, n, &h),
            Verification { valid: true, checked: 5, first_invalid_index: None, reason: None }
        );
    }

    #[test]
    fn an_empty_conversation_is_valid() {
        assert!(verify(&[], 0, &GENESIS).valid);
    }

    #[test]
    fn an_edited_text_is_found_at_its_index() {
        let mut c = chain(5);
        let (n, h) = head(&c);
        c[2].content = Some("edited".into());
        let v = verify(&c, n, &h);
        assert_eq!(v.first_invalid_index, Some(2));
        assert!(v.reason.unwrap().contains("content"));
    }

    #[test]
    fn an_erased_text_still_verifies() {
        let mut c = chain(3);
        let (n, h) = head(&c);
        c[1].content = None;
        assert!(verify(&c, n, &h).valid);
    }

    #[test]
    fn an_edited_timestamp_is_found_at_its_index() {
        let mut c = chain(4);
        let (n, h) = head(&c);
        c[3].created_at += chrono::Duration::microseconds(1);
        assert_eq!(verify(&c, n, &h).first_invalid_index, Some(3));
    }

    #[test]
    fn a_deleted_message_is_found_at_its_index() {
        let mut c = chain(5);
        let (n, h) = head(&c);
        c.remove(1);
        assert_eq!(verify(&c, n, &h).first_invalid_index, Some(1));
    }

    #[test]
    fn a_deleted_last_message_is_caught_by_the_head() {
        let mut c = chain(5);
        let (n, h) = head(&c);
        c.pop();
        assert_eq!(verify(&c, n, &h).first_invalid_index, Some(4));
    }

    #[test]
    fn reordered_messages_are_found_at_the_first_moved_index() {
        let mut c = chain(5);
        let (n, h) = head(&c);
        c.swap(1, 3);
        c[1].chain_index = 1;
        c[3].chain_index = 3;
        assert_eq!(verify(&c, n, &h).first_invalid_index, Some(1));
    }

    #[test]
    fn an_inserted_message_is_found_at_its_index() {
        let mut c = chain(4);
        let (n, h) = head(&c);
        let mut forged = c[1].clone();
        forged.content = Some("forged".into());
        forged.content_sha256 = content_digest("forged").to_vec();
        c.insert(2, forged);
        for (i, m) in c.iter_mut().enumerate() {
            m.chain_index = i as i64;
        }
        assert_eq!(verify(&c, n, &h).first_invalid_index, Some(2));
    }

    #[test]
    fn the_encoding_is_length_prefixed_and_versioned() {
        let link = Link {
            conversation_id: conversation(),
            chain_index: 7,
            role: "user",
            sender: Sender::Assistant,
            content_sha256: [1; 32],
            created_at: DateTime::from_timestamp_micros(1).unwrap(),
            prev_hash: [2; 32],
        };
        let bytes = encode(&link);
        assert_eq!(&bytes[..4], &(VERSION_TAG.len() as u32).to_be_bytes());
        assert_eq!(&bytes[4..4 + VERSION_TAG.len()], VERSION_TAG);
        // tag, id, index, role, sender, digest, time, prev: 8 fields with 4-byte prefixes
        assert_eq!(bytes.len(), 8 * 4 + VERSION_TAG.len() + 16 + 8 + 4 + 9 + 32 + 8 + 32);
    }
}

/// The worked example of `docs/message-chain.md`: if this test changes, so must the doc.
#[cfg(test)]
mod documented_example {
    use super::*;

    #[test]
    fn the_worked_example_in_the_docs_holds() {
        let content = "Hello, Parley!";
        let link = Link {
            conversation_id: Uuid::parse_str("0193a6f0-0000-7000-8000-000000000001").unwrap(),
            chain_index: 0,
            role: "user",
            sender: Sender::Anonymous(Uuid::parse_str("0193a6f0-0000-7000-8000-0000000000aa").unwrap()),
            content_sha256: content_digest(content),
            created_at: DateTime::parse_from_rfc3339("2026-11-22T10:30:00.123456Z").unwrap().with_timezone(&Utc),
            prev_hash: GENESIS,
        };
        let encoded = hex::encode(encode(&link));
        assert_eq!(hex::encode(link.content_sha256), DOC_CONTENT_SHA256);
        assert_eq!(encoded, DOC_ENCODING);
        assert_eq!(hex::encode(message_hash(&link)), DOC_MESSAGE_HASH);
    }

    const DOC_CONTENT_SHA256: &str = "512bbd6770b2bc72ec5d3a80303a726a6991eca9fca9df6c889fdc3415e63af3";
    const DOC_ENCODING: &str = "0000000f7061726c65792d636861696e2d7631000000100193a6f000007000800000000000000100000008000000000000000000000004757365720000002e616e6f6e796d6f75733a30313933613666302d303030302d373030302d383030302d30303030303030303030616100000020512bbd6770b2bc72ec5d3a80303a726a6991eca9fca9df6c889fdc3415e63af300000008000660daf59d3c40000000200000000000000000000000000000000000000000000000000000000000000000";
    const DOC_MESSAGE_HASH: &str = "0d069640f0c43e9240e1b78ea5ed31006d423d0c431ea957d31753508a5b915d";
}
