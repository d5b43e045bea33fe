//! The audit log: who did what to which thing, when, under which request.
//!
//! Guarantees: an entry is written in the same transaction as the change it records (no
//! change without its entry, no entry without its change); `details` carries hashes and
//! counts only — callers pass no key material, message text or tokens, and the API role
//! can only write entries naming itself as the actor (row-level security).

use uuid::Uuid;

use crate::platform::db::{DbError, Tx, Type};

pub struct Entry<'a> {
    pub actor_user_id: Option<Uuid>,
    /// `wallet.created`, `wallet.message_signed`, `wallet.key_rewrapped`, …
    pub action: &'a str,
    pub subject_type: &'a str,
    pub subject_id: Option<Uuid>,
    pub request_id: Option<&'a str>,
    pub details: serde_json::Value,
}

pub async fn record(tx: &Tx, entry: &Entry<'_>) -> Result<(), DbError> {
    tx.execute(
        "INSERT INTO audit_log (id, actor_user_id, action, subject_type, subject_id, request_id, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            (&Uuid::now_v7(), Type::UUID),
            (&entry.actor_user_id, Type::UUID),
            (&entry.action, Type::TEXT),
            (&entry.subject_type, Type::TEXT),
            (&entry.subject_id, Type::UUID),
            (&entry.request_id, Type::TEXT),
            (&entry.details, Type::JSONB),
        ],
    )
    .await
    .map(|_| ())
}
