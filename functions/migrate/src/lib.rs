//! `migrate` — applies the embedded schema migrations; invoked once per deploy
//! (`sam remote invoke MigrateFunction`) and by the local stack scripts.
//!
//! Connects as the schema owner (`PARLEY_MIGRATE_DATABASE_URL`), never as an API role.
//! Idempotent: already-applied migrations are skipped, and a changed applied migration
//! aborts the run rather than diverging.

use serde::Serialize;
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};

pub const FUNCTION: &str = "migrate";

#[derive(Clone)]
pub struct State {
    url: String,
    /// `PARLEY_STAGE` (default `local`), recorded in the database for its own checks.
    stage: String,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let url = config::required(src, "PARLEY_MIGRATE_DATABASE_URL")?;
        if url.parse::<shared::platform::db::PgConfig>().is_err() {
            return Err(ConfigError::new("PARLEY_MIGRATE_DATABASE_URL", "is not a valid postgres:// URL"));
        }
        let stage = config::optional(src, "PARLEY_STAGE").unwrap_or_else(|| "local".to_owned());
        if stage.is_empty()
            || stage.len() > 32
            || !stage.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ConfigError::new("PARLEY_STAGE", "must be 1-32 of a-z, 0-9 and -"));
        }
        Ok(Self { url, stage })
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub applied: Vec<String>,
}

/// Applies pending migrations; the event's content is ignored.
pub async fn handle(
    state: &State,
    _event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<Report, lambda_runtime::Error> {
    run(state).await.map_err(Into::into)
}

pub async fn run(state: &State) -> Result<Report, String> {
    let applied = shared::platform::db::migrations::run(&state.url, &state.stage).await?;
    tracing::info!(function = FUNCTION, count = applied.len(), applied = ?applied, "migrations applied");
    Ok(Report { applied })
}
