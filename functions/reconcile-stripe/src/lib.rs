//! `reconcile-stripe` — hourly (EventBridge Scheduler): lists Stripe's recent events and
//! applies every one the webhook never received, so a lost delivery is repaired without
//! anyone noticing.
//!
//! Looks back `PARLEY_RECONCILE_WINDOW_HOURS` (default 72; Stripe keeps events 30 days), at
//! most `PARLEY_RECONCILE_MAX_PAGES` pages of 100. An event already stored is skipped; a
//! missing one goes through the same inbox as a delivery (`shared::payments::events`), so
//! a delivery arriving at the same moment is applied once all the same.

use serde::Serialize;
use shared::payments::events::{self, Applied, Incoming};
use shared::payments::stripe::EventEffects;
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::db::Database;

pub const FUNCTION: &str = "reconcile-stripe";

#[derive(Clone)]
pub struct State {
    db: Database,
    effects: EventEffects,
    window_hours: i64,
    max_pages: u32,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let window_hours: i64 = config::parsed_or(src, "PARLEY_RECONCILE_WINDOW_HOURS", 72)?;
        if !(1..=720).contains(&window_hours) {
            return Err(ConfigError::new("PARLEY_RECONCILE_WINDOW_HOURS", "must be from 1 to 720"));
        }
        let max_pages: u32 = config::parsed_or(src, "PARLEY_RECONCILE_MAX_PAGES", 20)?;
        Ok(Self {
            db: Database::from_env(src, "PARLEY_SERVICE_DATABASE_URL")?,
            effects: EventEffects::from_env(src)?,
            window_hours,
            max_pages,
        })
    }
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    pub listed: u64,
    pub missing: u64,
    pub applied: u64,
    pub failed: u64,
}

pub async fn handle(
    state: &State,
    _event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<Report, lambda_runtime::Error> {
    run(state).await.map_err(|e| e.to_string().into())
}

pub async fn run(state: &State) -> Result<Report, String> {
    let since = chrono::Utc::now().timestamp() - state.window_hours * 3600;
    let listed = state.effects.stripe().recent_events(since, state.max_pages).await.map_err(|e| e.detail.clone())?;
    let mut report = Report { listed: listed.len() as u64, ..Report::default() };
    let ids: Vec<String> = listed.iter().map(|(id, _)| id.clone()).collect();
    let missing = events::unseen(&state.db, &ids).await.map_err(|e| e.to_string())?;
    // Oldest first, as Stripe would have delivered them.
    for (id, payload) in listed.into_iter().rev().filter(|(id, _)| missing.contains(id)) {
        report.missing += 1;
        tracing::warn!(event_id = %id, "Stripe event never delivered; applying it now");
        match events::receive(&state.db, &Incoming::from_payload(payload), &state.effects.for_function(FUNCTION))
            .await
            .map_err(|e| e.to_string())?
        {
            Applied::Processed | Applied::Duplicate => report.applied += 1,
            Applied::Failed(_) => report.failed += 1,
        }
    }
    tracing::info!(?report, "reconcile-stripe done");
    Ok(report)
}
