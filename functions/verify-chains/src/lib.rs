//! `verify-chains` — nightly (EventBridge Scheduler): recompute the hash chain of every
//! conversation whose head (message count and last hash) differs from the head its last
//! verification checked, or whose last verification is older than
//! `PARLEY_VERIFY_MAX_AGE_DAYS` (default 7: tampering that adds no message is still found
//! within a week), record each result in
//! `chain_verifications`, and raise a broken chain loudly (an error log line naming the
//! conversation and index, and the `ChainsBroken` metric).
//!
//! Runs as the service role. Conversations are taken in batches by id (keyset), each
//! verified in its own short transaction with its messages streamed, so memory stays flat
//! however long a thread is and a timeout loses at most one conversation's work. A batch's
//! conversations are verified `PARLEY_DB_POOL_SIZE` at a time (one connection each): while
//! one conversation's hashes are computed, the next one's rows are already on their way, so
//! neither the database nor the hashing waits on the other. Safe to
//! run twice at once: each run only adds verification rows. `{"full": true}` (top level or
//! in `detail`) re-verifies every conversation, changed or not.
//!
//! Every run also checks what earlier runs verified: each recorded valid head (count,
//! hash) must still be the hash of the message at `count - 1`. A chain that still links
//! up (a message changed and every later hash recomputed — a consistent rewrite) fails
//! this check at the earliest recorded head it no longer contains.

use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use shared::chat;
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::db::{Database, DbError, Type};
use shared::platform::metrics;
use uuid::Uuid;

pub const FUNCTION: &str = "verify-chains";

#[derive(Clone)]
pub struct State {
    db: Database,
    batch_size: i64,
    max_age_days: i32,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    /// Reads `PARLEY_SERVICE_DATABASE_URL`, `PARLEY_VERIFY_BATCH_SIZE` (default 100) and
    /// `PARLEY_VERIFY_MAX_AGE_DAYS` (default 7).
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let batch_size: i64 = config::parsed_or(src, "PARLEY_VERIFY_BATCH_SIZE", 100)?;
        if !(1..=10_000).contains(&batch_size) {
            return Err(ConfigError::new("PARLEY_VERIFY_BATCH_SIZE", "must be from 1 to 10000"));
        }
        let max_age_days: i32 = config::parsed_or(src, "PARLEY_VERIFY_MAX_AGE_DAYS", 7)?;
        if max_age_days < 1 {
            return Err(ConfigError::new("PARLEY_VERIFY_MAX_AGE_DAYS", "must be at least 1"));
        }
        Ok(Self { db: Database::from_env(src, "PARLEY_SERVICE_DATABASE_URL")?, batch_size, max_age_days })
    }
}

/// The scheduled event (or a manual invocation's payload).
#[derive(Debug, Default, Deserialize)]
pub struct Trigger {
    #[serde(default)]
    pub full: bool,
    #[serde(default)]
    pub detail: Option<TriggerDetail>,
}

#[derive(Debug, Default, Deserialize)]
pub struct TriggerDetail {
    #[serde(default)]
    pub full: bool,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    pub verified: u64,
    pub broken: u64,
    pub messages_checked: u64,
    /// Conversations whose chain is broken, with the first bad index.
    pub broken_conversations: Vec<(Uuid, Option<u64>)>,
}

pub async fn handle(
    state: &State,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<Report, lambda_runtime::Error> {
    let trigger: Trigger = serde_json::from_value(event.payload).unwrap_or_default();
    let full = trigger.full || trigger.detail.is_some_and(|d| d.full);
    run(state, full).await.map_err(|e| e.to_string().into())
}

pub async fn run(state: &State, full: bool) -> Result<Report, DbError> {
    let started = Utc::now();
    let mut report = Report::default();
    let mut after = Uuid::nil();
    loop {
        let batch = next_batch(state, after, full).await?;
        let Some(last) = batch.last() else { break };
        after = *last;
        // As many at once as the pool has connections: each holds one.
        let mut verified =
            futures::stream::iter(batch).map(|id| verify_one(state, id)).buffer_unordered(state.db.max_size());
        while let Some((conversation_id, outcome)) = verified.try_next().await? {
            let Some(v) = outcome else { continue }; // deleted since the batch was read
            report.verified += 1;
            report.messages_checked += v.checked;
            if !v.valid {
                report.broken += 1;
                report.broken_conversations.push((conversation_id, v.first_invalid_index));
                tracing::error!(
                    function = FUNCTION,
                    %conversation_id,
                    first_invalid_index = ?v.first_invalid_index,
                    reason = v.reason.as_deref().unwrap_or_default(),
                    "message chain broken"
                );
            }
        }
        tracing::info!(function = FUNCTION, verified = report.verified, broken = report.broken, "progress");
    }
    let elapsed_ms = (Utc::now() - started).num_milliseconds();
    tracing::info!(
        function = FUNCTION,
        verified = report.verified,
        broken = report.broken,
        messages = report.messages_checked,
        elapsed_ms,
        "chain verification finished"
    );
    metrics::emit(FUNCTION, "ChainsVerified", report.verified as f64, "Count");
    metrics::emit(FUNCTION, "ChainsBroken", report.broken as f64, "Count");
    Ok(report)
}

/// The next conversations (by id, after `after`) that need verifying.
async fn next_batch(state: &State, after: Uuid, full: bool) -> Result<Vec<Uuid>, DbError> {
    let tx = state.db.begin_service().await?;
    let rows = tx
        .query(
            "SELECT c.id FROM conversations c \
             WHERE c.id > $1 AND ($3 OR NOT EXISTS ( \
                 SELECT 1 FROM chain_verifications v \
                 WHERE v.conversation_id = c.id AND v.head_count = c.message_count AND v.head_hash = c.head_hash \
                   AND v.verified_at > now() - make_interval(days => $4))) \
             ORDER BY c.id LIMIT $2",
            &[
                (&after, Type::UUID),
                (&state.batch_size, Type::INT8),
                (&full, Type::BOOL),
                (&state.max_age_days, Type::INT4),
            ],
        )
        .await?;
    tx.commit().await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Verifies one conversation and records the result; `None` if it was deleted since its
/// batch was read.
async fn verify_one(
    state: &State,
    conversation_id: Uuid,
) -> Result<(Uuid, Option<chat::chain::Verification>), DbError> {
    // Read in one snapshot, so the head recorded is the head the messages were checked
    // against; record in a transaction of its own, whose foreign-key check may meet a
    // concurrent append without a serialization failure.
    let snapshot = state.db.begin_service_snapshot().await?;
    let verified = chat::verify(&snapshot, conversation_id).await?;
    // In the same snapshot: the earliest earlier-verified head the chain no longer holds.
    let rewritten = snapshot
        .query_opt(
            "SELECT v.head_count FROM chain_verifications v \
             LEFT JOIN conversation_messages m \
               ON m.conversation_id = v.conversation_id AND m.chain_index = v.head_count - 1 \
             WHERE v.conversation_id = $1 AND v.valid AND v.head_count > 0 \
               AND m.message_hash IS DISTINCT FROM v.head_hash \
             ORDER BY v.head_count LIMIT 1",
            &[(&conversation_id, Type::UUID)],
        )
        .await?
        .map(|r| r.get::<_, i32>(0));
    snapshot.commit().await?;
    let Some((mut v, head)) = verified else { return Ok((conversation_id, None)) };
    if let (true, Some(count)) = (v.valid, rewritten) {
        // The links hold, yet a head verified before is gone: the chain was rewritten at
        // or before that head's last message.
        v.valid = false;
        v.first_invalid_index = Some((count - 1) as u64);
        v.reason = Some(format!("the head verified at index {} is no longer in the chain (rewritten)", count - 1));
    }
    let (head_count, head_hash) = (head.count, head.hash);
    let tx = state.db.begin_service().await?;
    let first_invalid = v.first_invalid_index.map(|i| i as i32);
    tx.execute(
        // Nothing is recorded for a conversation deleted (swept) since it was read.
        "INSERT INTO chain_verifications \
         (id, conversation_id, valid, checked, first_invalid_index, reason, head_count, head_hash) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM conversations WHERE id = $2)",
        &[
            (&Uuid::now_v7(), Type::UUID),
            (&conversation_id, Type::UUID),
            (&v.valid, Type::BOOL),
            (&(v.checked as i32), Type::INT4),
            (&first_invalid, Type::INT4),
            (&v.reason, Type::TEXT),
            (&head_count, Type::INT4),
            (&head_hash, Type::BYTEA),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok((conversation_id, Some(v)))
}
