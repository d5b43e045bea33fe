//! `POST /v1/chat/messages` — append a message to the caller's conversation and answer it.
//!
//! Body `{"content": string, "conversation_id"?: uuid}`; without `conversation_id` a new
//! conversation is started for the caller. The quote assistant answers in the same
//! transaction: quote cards (real stored quotes, one per product) when the text names a
//! flight, else a short question. Both messages join the conversation's chain. Rate-limited
//! per caller (default 20/min anonymous, 60/min signed in; a signed-in user's plan may
//! have its own limit, `PARLEY_CHAT_RATE_LIMIT_TIERS`; fails open when DynamoDB is down). 201 with `{"message", "reply"}`; 404 for a conversation that is not the caller's;
//! 409 when the conversation is full.
//!
//! Before anything is stored the message's tone is analysed (Claude when configured, else
//! the local analyzer) and the deployment's policy applied: by default `low` is stored,
//! `medium` is stored with a `tone_warning` in the response, and `high` is refused with 422
//! carrying the indicators and a neutral rewrite — nothing stored, the chain untouched.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use shared::ApiError;
use shared::chat::turn::{ChatSettings, Turn};
use shared::chat::{self, Message};
use shared::payments::subscriptions;
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::platform::ratelimit::{CallerLimits, FailMode, Limit, RateLimiter};
use shared::platform::state::ApiState;
use shared::tone::service::Decision;
use uuid::Uuid;

pub const FUNCTION: &str = "chat-message";
/// Per source address, for anonymous callers when Claude may be asked (it costs money).
pub const DEFAULT_ADDRESS_LIMIT: Limit = Limit::per_minute(60);
pub const DEFAULT_LIMITS: CallerLimits = CallerLimits { anonymous: Limit::per_minute(20), user: Limit::per_minute(60) };

#[derive(Clone)]
pub struct State {
    api: ApiState,
    limiter: RateLimiter,
    limits: CallerLimits,
    /// Signed-in limits by plan (tier); a plan not listed, and `free`, get `limits.user`.
    tier_limits: Vec<(String, Limit)>,
    address_limit: Limit,
    chat: ChatSettings,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv).await
    }

    /// Reads `PARLEY_DATABASE_URL`, the identity settings, `PARLEY_TABLE_NAME`,
    /// `PARLEY_CHAT_RATE_LIMIT_{ANONYMOUS,USER}` (`<max>/<seconds>s`),
    /// `PARLEY_CHAT_RATE_LIMIT_TIERS` (`<plan>:<max>/<seconds>s`, comma-separated),
    /// `PARLEY_ANONYMOUS_ADDRESS_RATE_LIMIT` and the chat settings (`ChatSettings`).
    pub async fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let api = ApiState::from_source(src)?;
        let table = config::required(src, "PARLEY_TABLE_NAME")?;
        let limits = CallerLimits::from_env(src, "PARLEY_CHAT_RATE_LIMIT", DEFAULT_LIMITS)?;
        let tier_limits = Limit::named_from_env(src, "PARLEY_CHAT_RATE_LIMIT_TIERS")?;
        let address_limit = Limit::from_env(src, "PARLEY_ANONYMOUS_ADDRESS_RATE_LIMIT", DEFAULT_ADDRESS_LIMIT)?;
        let aws = shared::platform::aws::load().await;
        let chat = ChatSettings::from_env(src, &aws)?;
        let limiter = RateLimiter::new(shared::platform::aws::dynamodb(&aws), table, FailMode::Open);
        Ok(Self { api, limiter, limits, tier_limits, address_limit, chat })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    content: String,
    conversation_id: Option<Uuid>,
}

#[derive(Debug, Serialize)]
struct Created {
    message: Message,
    reply: Message,
    #[serde(skip_serializing_if = "Option::is_none")]
    tone_warning: Option<serde_json::Value>,
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { post(state, &req).await }).await
}

async fn post(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.api.identity.caller(req).await?.require_any()?;
    let body: Body = http::json_body(req)?;
    let content = chat::validate_content(&body.content).map_err(|e| ApiError::validation(vec![e]))?;
    let limit = match caller.user_id {
        None => state.limits.anonymous,
        Some(_) if state.tier_limits.is_empty() => state.limits.user,
        Some(user_id) => {
            // One read of the user's plan, only when plans have limits of their own.
            let tier = subscriptions::tier(&state.api.db, &caller, user_id).await?;
            state.tier_limits.iter().find(|(plan, _)| *plan == tier).map_or(state.limits.user, |(_, l)| *l)
        }
    };
    state.limiter.enforce_limit(FUNCTION, &caller, limit).await?;
    if caller.user_id.is_none() && state.chat.tone.uses_claude() {
        state.limiter.enforce_address(FUNCTION, http::source_ip(req).as_deref(), state.address_limit).await?;
    }

    let screened = state.chat.screen(&content, http::deadline(req)).await;
    if screened.refused() {
        return Err(screened.tone.refusal());
    }
    let tx = state.api.db.begin(&caller).await?;
    let Turn { message, reply } =
        state.chat.append_turn(&tx, &caller, body.conversation_id, &content, &screened, Utc::now()).await?;
    tx.commit().await?;
    let tone = &screened.tone;
    let tone_warning = (screened.decision == Decision::Warn).then(|| {
        serde_json::json!({
            "conflict_level": tone.analysis.conflict_level,
            "indicators": tone.analysis.indicators,
            "neutral_rewrite": tone.analysis.neutral_rewrite,
            "provider": tone.provider,
        })
    });
    http::json(StatusCode::CREATED, &Created { message, reply, tone_warning })
}
