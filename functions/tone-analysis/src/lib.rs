//! `POST /v1/tone/analyses` — how hostile is a text?
//!
//! Body `{"text"}` (1–4000 characters) → `{"is_hostile", "conflict_level", "indicators",
//! "neutral_rewrite", "provider"}`. Claude answers when configured (and within budget, with
//! its breaker closed); the local analyzer answers otherwise, and `provider` says which.
//! Rate-limited per caller (default 100/min; fails open). Anonymous or signed in.

use serde::{Deserialize, Serialize};
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::platform::identity::Identity;
use shared::platform::ratelimit::{CallerLimits, FailMode, Limit, RateLimiter};
use shared::tone::service::{Provider, ToneService};
use shared::tone::{ConflictLevel, Indicator};
use shared::{ApiError, FieldError};

pub const FUNCTION: &str = "tone-analysis";
pub const MAX_CHARS: usize = 4000;
pub const DEFAULT_LIMIT: Limit = Limit::per_minute(100);
/// Per source address, for anonymous callers (`PARLEY_ANONYMOUS_ADDRESS_RATE_LIMIT`).
pub const DEFAULT_ADDRESS_LIMIT: Limit = Limit::per_minute(60);

#[derive(Clone)]
pub struct State {
    identity: Identity,
    tone: ToneService,
    limiter: RateLimiter,
    limits: CallerLimits,
    address_limit: Limit,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv).await
    }

    /// Reads the identity settings, `PARLEY_TABLE_NAME`, `PARLEY_TONE_RATE_LIMIT`
    /// (`<max>/<seconds>s`, default 100/60s) and the Claude settings (see `shared::tone::claude`).
    pub async fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let identity = shared::platform::state::identity_from_env(src)?;
        let table = config::required(src, "PARLEY_TABLE_NAME")?;
        let limit = Limit::from_env(src, "PARLEY_TONE_RATE_LIMIT", DEFAULT_LIMIT)?;
        let address_limit = Limit::from_env(src, "PARLEY_ANONYMOUS_ADDRESS_RATE_LIMIT", DEFAULT_ADDRESS_LIMIT)?;
        let aws = shared::platform::aws::load().await;
        Ok(Self {
            identity,
            tone: ToneService::from_env(src, &aws)?,
            limiter: RateLimiter::new(shared::platform::aws::dynamodb(&aws), table, FailMode::Open),
            limits: CallerLimits { anonymous: limit, user: limit },
            address_limit,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    text: String,
}

#[derive(Debug, Serialize)]
struct Answer {
    is_hostile: bool,
    conflict_level: ConflictLevel,
    indicators: Vec<Indicator>,
    neutral_rewrite: Option<String>,
    provider: Provider,
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { post(state, &req).await }).await
}

async fn post(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.identity.caller(req).await?.require_any()?;
    let body: Body = http::json_body(req)?;
    // What is measured is what is analysed (and paid for, with Claude): the trimmed text.
    let text = body.text.trim();
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_CHARS {
        return Err(ApiError::validation(vec![FieldError::new(
            "text",
            format!("must be 1 to {MAX_CHARS} characters (got {chars})"),
        )]));
    }
    state.limiter.enforce(FUNCTION, &caller, &state.limits).await?;
    if caller.user_id.is_none() {
        state.limiter.enforce_address(FUNCTION, http::source_ip(req).as_deref(), state.address_limit).await?;
    }
    let result = state.tone.analyze(text, http::deadline(req)).await;
    let a = result.analysis;
    http::json(
        StatusCode::OK,
        &Answer {
            is_hostile: a.is_hostile,
            conflict_level: a.conflict_level,
            indicators: a.indicators,
            neutral_rewrite: a.neutral_rewrite,
            provider: result.provider,
        },
    )
}
