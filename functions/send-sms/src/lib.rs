//! `send-sms` — every minute (EventBridge Scheduler): sends the outbox rows that are still
//! pending and due — those whose send right after their effect's commit failed, or never
//! ran — with exponential backoff between attempts and at most `PARLEY_SMS_MAX_ATTEMPTS`.
//! Runs as the service role; rows are leased under `FOR UPDATE SKIP LOCKED`, so overlapping
//! runs never send one message twice. Batches of `PARLEY_SMS_BATCH_SIZE` (default 100),
//! until none is due or the run nears its time limit.

use std::time::{Duration, Instant};

use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::db::{Database, DbError};
use shared::sms::outbox::{Report, Sender};
use shared::sms::twilio::{Twilio, TwilioConfig};
use shared::sms::webhook::SmsSettings;

pub const FUNCTION: &str = "send-sms";
/// Stop starting batches after this long; the next minute's run carries on.
const BUDGET: Duration = Duration::from_secs(40);

#[derive(Clone)]
pub struct State {
    sender: Sender,
    batch_size: i64,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let batch_size: i64 = config::parsed_or(src, "PARLEY_SMS_BATCH_SIZE", 100)?;
        if !(1..=1000).contains(&batch_size) {
            return Err(ConfigError::new("PARLEY_SMS_BATCH_SIZE", "must be from 1 to 1000"));
        }
        let db = Database::from_env(src, "PARLEY_SERVICE_DATABASE_URL")?;
        let sender = Sender::new(db, Twilio::new(TwilioConfig::from_env(src)?), SmsSettings::from_env(src)?);
        Ok(Self { sender, batch_size })
    }
}

pub async fn handle(
    state: &State,
    _event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<Report, lambda_runtime::Error> {
    run(state).await.map_err(|e| e.to_string().into())
}

pub async fn run(state: &State) -> Result<Report, DbError> {
    let started = Instant::now();
    let mut total = Report::default();
    loop {
        let r = state.sender.send_due(state.batch_size).await?;
        let handled = r.sent + r.suppressed + r.retrying + r.failed;
        total.sent += r.sent;
        total.suppressed += r.suppressed;
        total.retrying += r.retrying;
        total.failed += r.failed;
        if (handled as i64) < state.batch_size || started.elapsed() > BUDGET {
            break;
        }
    }
    tracing::info!(
        sent = total.sent,
        suppressed = total.suppressed,
        retrying = total.retrying,
        failed = total.failed,
        "send-sms run"
    );
    Ok(total)
}
