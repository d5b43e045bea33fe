//! `rewrap-wallet-keys` — manual (or scheduled) job that moves every wallet key not under
//! the current KMS key (`PARLEY_KMS_KEY_ID`) to it with KMS `ReEncrypt`, keeping the same
//! encryption context, so the plaintext never leaves KMS.
//!
//! In batches (`PARLEY_REWRAP_BATCH_SIZE`, default 100), each its own transaction, rows
//! taken with `FOR UPDATE SKIP LOCKED`: resumable after a timeout and safe to run twice at
//! once. `{"dry_run": true}` counts what would move and changes nothing. Every rewrap is
//! audited. A wallet KMS refuses is logged and counted, and the run goes on; KMS
//! unreachable stops the run.

use serde::{Deserialize, Serialize};
use shared::platform::audit::{self, Entry};
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::db::{Database, Type};
use shared::wallets::custody::KeyCustody;
use uuid::Uuid;

pub const FUNCTION: &str = "rewrap-wallet-keys";

#[derive(Clone)]
pub struct State {
    db: Database,
    custody: KeyCustody,
    batch_size: i64,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv).await
    }

    pub async fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let db = Database::from_env(src, "PARLEY_SERVICE_DATABASE_URL")?;
        let key_id = config::required(src, "PARLEY_KMS_KEY_ID")?;
        let batch_size: i64 = config::parsed_or(src, "PARLEY_REWRAP_BATCH_SIZE", 100)?;
        if !(1..=1000).contains(&batch_size) {
            return Err(ConfigError::new("PARLEY_REWRAP_BATCH_SIZE", "must be from 1 to 1000"));
        }
        let aws = shared::platform::aws::load().await;
        Ok(Self { db, custody: KeyCustody::new(shared::platform::aws::kms(&aws), key_id), batch_size })
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Options {
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    pub target_key: String,
    pub dry_run: bool,
    /// Wallets moved (or, in a dry run, that would move).
    pub rewrapped: u64,
    pub failed: u64,
}

pub async fn handle(
    state: &State,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<Report, lambda_runtime::Error> {
    let options: Options = serde_json::from_value(event.payload).unwrap_or_default();
    run(state, options.dry_run).await.map_err(Into::into)
}

pub async fn run(state: &State, dry_run: bool) -> Result<Report, String> {
    let target = state.custody.current_key_arn().await.map_err(|e| e.to_string())?;
    let mut report = Report { target_key: target.clone(), dry_run, ..Report::default() };
    if dry_run {
        let tx = state.db.begin_service().await.map_err(|e| e.to_string())?;
        let row = tx
            .query_one("SELECT count(*) FROM user_wallets WHERE kms_key_id <> $1", &[(&target, Type::TEXT)])
            .await
            .map_err(|e| e.to_string())?;
        tx.commit().await.map_err(|e| e.to_string())?;
        report.rewrapped = row.get::<_, i64>(0) as u64;
        tracing::info!(function = FUNCTION, would_rewrap = report.rewrapped, target = %target, "dry run");
        return Ok(report);
    }
    // Wallets KMS refused stay on their old key; skip them so the loop ends.
    let mut skip: Vec<Uuid> = Vec::new();
    loop {
        let tx = state.db.begin_service().await.map_err(|e| e.to_string())?;
        let rows = tx
            .query(
                "SELECT id, user_id, encrypted_private_key FROM user_wallets \
                 WHERE kms_key_id <> $1 AND NOT (id = ANY($3)) ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
                &[(&target, Type::TEXT), (&state.batch_size, Type::INT8), (&skip, Type::UUID_ARRAY)],
            )
            .await
            .map_err(|e| e.to_string())?;
        if rows.is_empty() {
            tx.commit().await.map_err(|e| e.to_string())?;
            break;
        }
        for row in &rows {
            let (wallet_id, user_id, ciphertext): (Uuid, Uuid, Vec<u8>) = (row.get(0), row.get(1), row.get(2));
            let wrapped = match state.custody.rewrap(&ciphertext, wallet_id, user_id).await {
                Ok(w) => w,
                Err(e) if e.unreachable => return Err(e.to_string()),
                Err(e) => {
                    tracing::error!(function = FUNCTION, %wallet_id, error = %e, "wallet key could not be rewrapped");
                    report.failed += 1;
                    skip.push(wallet_id);
                    continue;
                }
            };
            tx.execute(
                "UPDATE user_wallets SET encrypted_private_key = $2, kms_key_id = $3, key_version = key_version + 1, \
                 rewrapped_at = now() WHERE id = $1",
                &[(&wallet_id, Type::UUID), (&wrapped.ciphertext, Type::BYTEA), (&wrapped.kms_key_id, Type::TEXT)],
            )
            .await
            .map_err(|e| e.to_string())?;
            audit::record(
                &tx,
                &Entry {
                    actor_user_id: None,
                    action: "wallet.key_rewrapped",
                    subject_type: "wallet",
                    subject_id: Some(wallet_id),
                    request_id: None,
                    details: serde_json::json!({ "kms_key_id": wrapped.kms_key_id }),
                },
            )
            .await
            .map_err(|e| e.to_string())?;
            report.rewrapped += 1;
        }
        tx.commit().await.map_err(|e| e.to_string())?;
        tracing::info!(function = FUNCTION, rewrapped = report.rewrapped, failed = report.failed, "progress");
    }
    tracing::info!(function = FUNCTION, rewrapped = report.rewrapped, failed = report.failed, target = %target, "rewrap finished");
    Ok(report)
}
