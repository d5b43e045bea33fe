//! `POST /v1/sessions/anonymous` — start an anonymous session.
//!
//! Stores the session row (RLS: the new session may insert only itself) and answers 201
//! with a server-signed token valid for 24 hours. Needs no body and no credentials.
//! Limited per source address (`PARLEY_SESSION_RATE_LIMIT`, default 10/60s; fails
//! closed), since every session brings fresh per-caller budgets elsewhere.

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use shared::ApiError;
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::db::Type;
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::platform::identity::Caller;
use shared::platform::ratelimit::{FailMode, Limit, RateLimiter};
use shared::platform::state::ApiState;
use uuid::Uuid;

pub const FUNCTION: &str = "session-anonymous";
pub const DEFAULT_LIMIT: Limit = Limit::per_minute(10);

#[derive(Clone)]
pub struct State {
    api: ApiState,
    limiter: RateLimiter,
    limit: Limit,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv).await
    }

    /// The API settings, `PARLEY_TABLE_NAME` and `PARLEY_SESSION_RATE_LIMIT`.
    pub async fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let api = ApiState::from_source(src)?;
        let table = config::required(src, "PARLEY_TABLE_NAME")?;
        let limit = Limit::from_env(src, "PARLEY_SESSION_RATE_LIMIT", DEFAULT_LIMIT)?;
        let aws = shared::platform::aws::load().await;
        // Closed: an open limiter would hand out unlimited sessions during an outage.
        let limiter = RateLimiter::new(shared::platform::aws::dynamodb(&aws), table, FailMode::Closed);
        Ok(Self { api, limiter, limit })
    }
}

#[derive(Debug, Serialize)]
struct Created {
    session_id: Uuid,
    token: String,
    expires_at: DateTime<Utc>,
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { create(state, &req).await }).await
}

async fn create(state: &State, req: &Request) -> Result<Response, ApiError> {
    state.limiter.enforce_address(FUNCTION, http::source_ip(req).as_deref(), state.limit).await?;
    let session_id = Uuid::now_v7();
    let now = Utc::now().trunc_subsecs(6); // what timestamptz stores
    let issued = state.api.identity.issue_anonymous(session_id, now).await?;
    state
        .api
        .db
        .one_shot(
            &Caller::anonymous(session_id),
            "INSERT INTO anonymous_sessions (id, created_at, expires_at) VALUES ($1, $2, $3)",
            &[(&session_id, Type::UUID), (&now, Type::TIMESTAMPTZ), (&issued.expires_at, Type::TIMESTAMPTZ)],
        )
        .await?;
    http::json(StatusCode::CREATED, &Created { session_id, token: issued.token, expires_at: issued.expires_at })
}
