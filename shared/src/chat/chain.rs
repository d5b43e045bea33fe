//! The tamper-evident message chain (`docs/message-chain.md` documents it byte by byte).
//!
//! Guarantees:
//! - [`message_hash`] is SHA-256 over an unambiguous encoding: every field is a 4-byte
//!   big-endian length followed by its bytes, after a version tag, so no two different
//!   messages encode alike;
//! - the content enters only as a digest stored beside the text, so erasing a text later
//!   (account deletion) leaves the chain verifiable. In format 2 (every new message) the
//!   digest is keyed by a random per-message salt that is erased with the text, so an erased
//!   short text ("yes") cannot be found again by hashing guesses; format 2 also covers the
//!   message's `ui_elements` (the quote cards and their prices). Format 1 messages, written
//!   before, keep their unsalted digest and verify as they always did;
//! - [`Verifier`] checks messages one at a time, in index order, holding O(1) state, and
//!   names the first index that breaks: an edited text, an edited field, a deleted,
//!   reordered or inserted message, or a chain shorter or longer than its head says.

use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Which encoding a message's hash uses; stored per message (`chain_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `parley-chain-v1`: the content's plain SHA-256; `ui_elements` not covered.
    V1,
    /// `parley-chain-v2`: the content's HMAC-SHA256 under a per-message salt, and the
    /// SHA-256 of the canonical JSON (RFC 8785) of `ui_elements`.
    V2 { ui_elements_sha256: Hash },
}

impl Format {
    /// Tag that starts every encoded message; a new encoding gets a new tag.
    pub fn tag(&self) -> &'static [u8] {
        match self {
            Format::V1 => b"parley-chain-v1",
            Format::V2 { .. } => b"parley-chain-v2",
        }
    }

    /// The stored `chain_version`.
    pub fn version(&self) -> i16 {
        match self {
            Format::V1 => 1,
            Format::V2 { .. } => 2,
        }
    }
}

/// The format every new message is written in.
pub const CURRENT_VERSION: i16 = 2;
/// Bytes of a format 2 content salt.
pub const SALT_LEN: usize = 32;

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
    pub format: Format,
    pub conversation_id: Uuid,
    pub chain_index: u64,
    pub role: &'a str,
    pub sender: Sender,
    /// [`content_digest`] in format 1, [`salted_content_digest`] in format 2.
    pub content_sha256: Hash,
    /// Microsecond precision (what PostgreSQL stores); finer digits are not hashed.
    pub created_at: DateTime<Utc>,
    pub prev_hash: Hash,
}

/// Format 1's content digest: SHA-256 of the text.
pub fn content_digest(content: &str) -> Hash {
    Sha256::digest(content.as_bytes()).into()
}

/// Format 2's content digest: HMAC-SHA256 keyed by the message's salt, over the text.
pub fn salted_content_digest(salt: &[u8], content: &str) -> Hash {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(salt).expect("HMAC takes a key of any length");
    mac.update(content.as_bytes());
    mac.finalize().into_bytes().into()
}

/// A fresh random salt for a format 2 message.
pub fn new_salt() -> [u8; SALT_LEN] {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).expect("the operating system's random source is available");
    salt
}

/// SHA-256 of `ui_elements` in the JSON Canonicalization Scheme (RFC 8785), so the digest
/// does not depend on how the database or a client orders keys or writes numbers.
pub fn ui_elements_digest(ui_elements: &serde_json::Value) -> Hash {
    let canonical = serde_jcs::to_vec(ui_elements).expect("a JSON value always canonicalizes");
    Sha256::digest(canonical).into()
}

/// The exact bytes that are hashed.
pub fn encode(link: &Link<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut field = |bytes: &[u8]| {
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    };
    field(link.format.tag());
    field(link.conversation_id.as_bytes());
    field(&link.chain_index.to_be_bytes());
    field(link.role.as_bytes());
    field(link.sender.encoded().as_bytes());
    field(&link.content_sha256);
    if let Format::V2 { ui_elements_sha256 } = &link.format {
        field(ui_elements_sha256);
    }
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
    /// `chain_version`: 1 or 2.
    pub version: i16,
    pub chain_index: i64,
    pub role: String,
    pub sender_kind: String,
    pub sender_id: Option<Uuid>,
    /// `None` once erased.
    pub content: Option<String>,
    pub content_sha256: Vec<u8>,
    /// Format 2's salt; `None` in format 1 and once the text is erased.
    pub content_salt: Option<Vec<u8>>,
    pub ui_elements: serde_json::Value,
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
        let format = match m.version {
            1 => Format::V1,
            2 => Format::V2 { ui_elements_sha256: ui_elements_digest(&m.ui_elements) },
            v => return Err(format!("message {at} has an unknown chain format {v}")),
        };
        if let Some(text) = &m.content {
            let digest = match (format, &m.content_salt) {
                (Format::V1, _) => content_digest(text),
                (Format::V2 { .. }, Some(salt)) if salt.len() == SALT_LEN => salted_content_digest(salt, text),
                (Format::V2 { .. }, _) => return Err(format!("message {at} has its text but no valid salt")),
            };
            if digest != content_sha256 {
                return Err(format!("message {at}'s content does not match its digest"));
            }
        }
        let sender = Sender::from_stored(&m.sender_kind, m.sender_id)
            .ok_or_else(|| format!("message {at} has a malformed sender"))?;
        let link = Link {
            format,
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
    use serde_json::json;

    fn conversation() -> Uuid {
        Uuid::parse_str("01932c07-a000-7000-8000-000000000001").unwrap()
    }

    /// Message `i` of a test chain, stored in `version` (1 or 2) after `prev`.
    fn stored(version: i16, i: u64, prev: Hash) -> Stored {
        let user = Uuid::parse_str("01932c07-a000-7000-8000-0000000000aa").unwrap();
        let content = format!("message number {i}");
        let created_at = DateTime::from_timestamp_micros(1_795_305_600_000_000 + i as i64).unwrap();
        let ui_elements = json!([{"type": "quote_card", "quote_id": format!("q{i}"), "price_cents": 1959}]);
        let salt = new_salt();
        let (format, digest, content_salt) = match version {
            1 => (Format::V1, content_digest(&content), None),
            _ => (
                Format::V2 { ui_elements_sha256: ui_elements_digest(&ui_elements) },
                salted_content_digest(&salt, &content),
                Some(salt.to_vec()),
            ),
        };
        let link = Link {
            format,
            conversation_id: conversation(),
            chain_index: i,
            role: "user",
            sender: Sender::User(user),
            content_sha256: digest,
            created_at,
            prev_hash: prev,
        };
        Stored {
            version,
            chain_index: i as i64,
            role: "user".into(),
            sender_kind: "user".into(),
            sender_id: Some(user),
            content: Some(content),
            content_sha256: digest.to_vec(),
            content_salt,
            ui_elements,
            created_at,
            prev_hash: prev.to_vec(),
            message_hash: message_hash(&link).to_vec(),
        }
    }

    /// A valid chain whose message `i` is stored in `versions(i)`.
    fn chain_of(n: u64, versions: impl Fn(u64) -> i16) -> Vec<Stored> {
        let mut prev = GENESIS;
        (0..n)
            .map(|i| {
                let m = stored(versions(i), i, prev);
                prev = m.message_hash.clone().try_into().unwrap();
                m
            })
            .collect()
    }

    /// A valid chain of `n` messages in the current format.
    fn chain(n: u64) -> Vec<Stored> {
        chain_of(n, |_| CURRENT_VERSION)
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
    fn format_1_messages_before_format_2_ones_verify() {
        let c = chain_of(6, |i| if i < 3 { 1 } else { 2 });
        let (n, h) = head(&c);
        assert!(verify(&c, n, &h).valid);
        // AND a format 1 message's text is still checked against its plain digest
        let mut edited = c.clone();
        edited[1].content = Some("edited".into());
        assert_eq!(verify(&edited, n, &h).first_invalid_index, Some(1));
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
    fn an_erased_text_still_verifies_and_its_digest_is_not_the_texts_hash() {
        let mut c = chain(3);
        let (n, h) = head(&c);
        let text = c[1].content.take().unwrap();
        c[1].content_salt = None;
        assert!(verify(&c, n, &h).valid);
        // The salt went with the text: hashing a guess (even the right one) finds nothing.
        assert_ne!(c[1].content_sha256, content_digest(&text).to_vec());
    }

    #[test]
    fn a_text_whose_salt_was_removed_is_found() {
        let mut c = chain(3);
        let (n, h) = head(&c);
        c[2].content_salt = None;
        let v = verify(&c, n, &h);
        assert_eq!(v.first_invalid_index, Some(2));
        assert!(v.reason.unwrap().contains("salt"));
    }

    #[test]
    fn an_edited_quote_card_price_is_found_at_its_index() {
        let mut c = chain(4);
        let (n, h) = head(&c);
        c[2].ui_elements[0]["price_cents"] = json!(1);
        let v = verify(&c, n, &h);
        assert_eq!(v.first_invalid_index, Some(2));
        assert!(v.reason.unwrap().contains("hash"));
    }

    #[test]
    fn ui_elements_are_digested_canonically() {
        // Key order and number spelling (as a database may rewrite them) do not matter.
        let a: serde_json::Value = serde_json::from_str(r#"{"b": 1.50, "a": [1e2, "x"]}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{"a": [100, "x"], "b": 1.5}"#).unwrap();
        assert_eq!(ui_elements_digest(&a), ui_elements_digest(&b));
        assert_ne!(ui_elements_digest(&a), ui_elements_digest(&json!({"a": [100, "x"], "b": 1.6})));
    }

    #[test]
    fn an_unknown_format_is_refused() {
        let mut c = chain(2);
        let (n, h) = head(&c);
        c[1].version = 3;
        assert!(verify(&c, n, &h).reason.unwrap().contains("unknown chain format"));
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
        forged.content_sha256 = salted_content_digest(forged.content_salt.as_ref().unwrap(), "forged").to_vec();
        c.insert(2, forged);
        for (i, m) in c.iter_mut().enumerate() {
            m.chain_index = i as i64;
        }
        assert_eq!(verify(&c, n, &h).first_invalid_index, Some(2));
    }

    #[test]
    fn the_encoding_is_length_prefixed_and_versioned() {
        let mut link = Link {
            format: Format::V1,
            conversation_id: conversation(),
            chain_index: 7,
            role: "user",
            sender: Sender::Assistant,
            content_sha256: [1; 32],
            created_at: DateTime::from_timestamp_micros(1).unwrap(),
            prev_hash: [2; 32],
        };
        for (format, extra) in [(Format::V1, 0), (Format::V2 { ui_elements_sha256: [3; 32] }, 4 + 32)] {
            link.format = format;
            let tag = format.tag();
            let bytes = encode(&link);
            assert_eq!(&bytes[..4], &(tag.len() as u32).to_be_bytes());
            assert_eq!(&bytes[4..4 + tag.len()], tag);
            // tag, id, index, role, sender, digest, [ui digest,] time, prev, with 4-byte prefixes
            assert_eq!(bytes.len(), 8 * 4 + tag.len() + 16 + 8 + 4 + 9 + 32 + 8 + 32 + extra);
        }
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
            format: Format::V1,
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

    /// Format 2: the same message with salt `00 01 02 … 1f` and one quote card.
    #[test]
    fn the_format_2_worked_example_in_the_docs_holds() {
        let content = "Hello, Parley!";
        let salt: Vec<u8> = (0u8..32).collect();
        let ui_elements: serde_json::Value =
            serde_json::from_str(r#"[{"type":"quote_card","price_cents":1959,"currency":"usd"}]"#).unwrap();
        let link = Link {
            format: Format::V2 { ui_elements_sha256: ui_elements_digest(&ui_elements) },
            conversation_id: Uuid::parse_str("0193a6f0-0000-7000-8000-000000000001").unwrap(),
            chain_index: 0,
            role: "user",
            sender: Sender::Anonymous(Uuid::parse_str("0193a6f0-0000-7000-8000-0000000000aa").unwrap()),
            content_sha256: salted_content_digest(&salt, content),
            created_at: DateTime::parse_from_rfc3339("2026-11-22T10:30:00.123456Z").unwrap().with_timezone(&Utc),
            prev_hash: GENESIS,
        };
        assert_eq!(String::from_utf8(serde_jcs::to_vec(&ui_elements).unwrap()).unwrap(), DOC_V2_UI_CANONICAL);
        let Format::V2 { ui_elements_sha256 } = link.format else { unreachable!() };
        assert_eq!(hex::encode(ui_elements_sha256), DOC_V2_UI_SHA256);
        assert_eq!(hex::encode(link.content_sha256), DOC_V2_CONTENT_DIGEST);
        assert_eq!(hex::encode(encode(&link)), DOC_V2_ENCODING);
        assert_eq!(hex::encode(message_hash(&link)), DOC_V2_MESSAGE_HASH);
    }

    const DOC_V2_UI_CANONICAL: &str = r#"[{"currency":"usd","price_cents":1959,"type":"quote_card"}]"#;
    const DOC_V2_UI_SHA256: &str = "882b49834e88f5e06f2eb921203192953a158d6014615e33042cdc9c69d637c1";
    const DOC_V2_CONTENT_DIGEST: &str = "f45280e47817332782b6d8b96e845de3dc94e37b63e2f1b40fa91da2903e54f5";
    const DOC_V2_ENCODING: &str = "0000000f7061726c65792d636861696e2d7632000000100193a6f000007000800000000000000100000008000000000000000000000004757365720000002e616e6f6e796d6f75733a30313933613666302d303030302d373030302d383030302d30303030303030303030616100000020f45280e47817332782b6d8b96e845de3dc94e37b63e2f1b40fa91da2903e54f500000020882b49834e88f5e06f2eb921203192953a158d6014615e33042cdc9c69d637c100000008000660daf59d3c40000000200000000000000000000000000000000000000000000000000000000000000000";
    const DOC_V2_MESSAGE_HASH: &str = "5ee09b74c4732bdcc73b95e6a8d61b4d9afa161b1bbed63c7684167f21c3bedc";
}
