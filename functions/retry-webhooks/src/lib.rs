//! `retry-webhooks` — every 5 minutes (EventBridge Scheduler): applies again the webhook
//! events stored `failed` whose backoff has passed (`webhook_events.next_attempt_at`,
//! exponential from one minute, capped at six hours). An event that has failed
//! `PARLEY_WEBHOOK_MAX_ATTEMPTS` times (default 8) is marked `dead`, logged as an error and
//! counted in the `WebhookEventsDead` metric, for an operator to look at.
//!
//! Each event is retried in its own transaction through the same code a delivery runs
//! (`shared::payments::events::reprocess`), so a retry and a late delivery of the same event
//! serialize on its row and apply it once. At most `PARLEY_WEBHOOK_RETRY_BATCH_SIZE`
//! (default 100) events per run; the next run takes the rest.

use serde::Serialize;
use shared::ApiError;
use shared::payments::events::{self, Applied};
use shared::payments::stripe::EventEffects;
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::db::Database;
use shared::platform::metrics;

pub const FUNCTION: &str = "retry-webhooks";

#[derive(Clone)]
pub struct State {
    db: Database,
    effects: EventEffects,
    max_attempts: i32,
    batch_size: i64,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let max_attempts: i32 = config::parsed_or(src, "PARLEY_WEBHOOK_MAX_ATTEMPTS", 8)?;
        if !(1..=50).contains(&max_attempts) {
            return Err(ConfigError::new("PARLEY_WEBHOOK_MAX_ATTEMPTS", "must be from 1 to 50"));
        }
        let batch_size: i64 = config::parsed_or(src, "PARLEY_WEBHOOK_RETRY_BATCH_SIZE", 100)?;
        if !(1..=10_000).contains(&batch_size) {
            return Err(ConfigError::new("PARLEY_WEBHOOK_RETRY_BATCH_SIZE", "must be from 1 to 10000"));
        }
        Ok(Self {
            db: Database::from_env(src, "PARLEY_SERVICE_DATABASE_URL")?,
            effects: EventEffects::from_env(src)?,
            max_attempts,
            batch_size,
        })
    }
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    pub due: u64,
    pub processed: u64,
    pub failed_again: u64,
    pub dead: u64,
}

pub async fn handle(
    state: &State,
    _event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<Report, lambda_runtime::Error> {
    run(state).await.map_err(|e| e.to_string().into())
}

pub async fn run(state: &State) -> Result<Report, ApiError> {
    let mut report = Report::default();
    for due in events::due(&state.db, state.batch_size).await? {
        report.due += 1;
        if due.attempts >= state.max_attempts {
            if events::bury(&state.db, &due.event_id).await? {
                tracing::error!(event_id = %due.event_id, event_type = %due.event_type, attempts = due.attempts,
                    "webhook event failed too often; marked dead");
                report.dead += 1;
            }
            continue;
        }
        match events::reprocess(&state.db, &due.event_id, &state.effects.for_function(FUNCTION)).await? {
            Applied::Processed | Applied::Duplicate => report.processed += 1,
            Applied::Failed(_) => report.failed_again += 1,
        }
    }
    if report.dead > 0 {
        metrics::emit(FUNCTION, "WebhookEventsDead", report.dead as f64, "Count");
    }
    tracing::info!(?report, "retry-webhooks done");
    Ok(report)
}
