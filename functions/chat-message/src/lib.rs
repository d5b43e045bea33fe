//! `POST /v1/chat/messages` — append a message to the caller's conversation and answer it.
//!
//! Body `{"content": string, "conversation_id"?: uuid}`; without `conversation_id` a new
//! conversation is started for the caller. The quote assistant answers in the same
//! transaction: quote cards (real stored quotes, one per product) when the text names a
//! flight, else a short question. Both messages join the conversation's chain. Rate-limited
//! per caller (default 20/min anonymous, 60/min signed in; fails open when DynamoDB is
//! down). 201 with `{"message", "reply"}`; 404 for a conversation that is not the caller's;
//! 409 when the conversation is full.
//!
//! Before anything is stored the message's tone is analysed (Claude when configured, else
//! the local analyzer) and the deployment's policy applied: by default `low` is stored,
//! `medium` is stored with a `tone_warning` in the response, and `high` is refused with 422
//! carrying the indicators and a neutral rewrite — nothing stored, the chain untouched.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use shared::ApiError;
use shared::chat::chain::Sender;
use shared::chat::{self, Message, NewMessage};
use shared::commerce::assistant;
use shared::commerce::quotes::QuoteRules;
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::platform::ratelimit::{CallerLimits, FailMode, Limit, RateLimiter};
use shared::platform::state::ApiState;
use shared::tone::service::{Decision, TonePolicy, ToneService};
use uuid::Uuid;

pub const FUNCTION: &str = "chat-message";
/// Per source address, for anonymous callers when Claude may be asked (it costs money).
pub const DEFAULT_ADDRESS_LIMIT: Limit = Limit::per_minute(60);
pub const DEFAULT_LIMITS: CallerLimits = CallerLimits { anonymous: Limit::per_minute(20), user: Limit::per_minute(60) };
pub const DEFAULT_MAX_MESSAGES: u32 = 1000;

#[derive(Clone)]
pub struct State {
    api: ApiState,
    limiter: RateLimiter,
    limits: CallerLimits,
    address_limit: Limit,
    max_messages: u32,
    quote_rules: QuoteRules,
    tone: ToneService,
    tone_policy: TonePolicy,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv).await
    }

    /// Reads `PARLEY_DATABASE_URL`, the identity settings, `PARLEY_TABLE_NAME`,
    /// `PARLEY_CHAT_RATE_LIMIT_{ANONYMOUS,USER}` (`<max>/<seconds>s`) and
    /// `PARLEY_CHAT_MAX_MESSAGES`.
    pub async fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let api = ApiState::from_source(src)?;
        let table = config::required(src, "PARLEY_TABLE_NAME")?;
        let limits = CallerLimits::from_env(src, "PARLEY_CHAT_RATE_LIMIT", DEFAULT_LIMITS)?;
        let address_limit = Limit::from_env(src, "PARLEY_ANONYMOUS_ADDRESS_RATE_LIMIT", DEFAULT_ADDRESS_LIMIT)?;
        let max_messages: u32 = config::parsed_or(src, "PARLEY_CHAT_MAX_MESSAGES", DEFAULT_MAX_MESSAGES)?;
        if max_messages < 2 {
            return Err(ConfigError::new("PARLEY_CHAT_MAX_MESSAGES", "must be at least 2 (a message and its reply)"));
        }
        let quote_rules = QuoteRules::from_env(src)?;
        let tone_policy = TonePolicy::from_env(src)?;
        let aws = shared::platform::aws::load().await;
        let tone = ToneService::from_env(src, &aws)?;
        let limiter = RateLimiter::new(shared::platform::aws::dynamodb(&aws), table, FailMode::Open);
        Ok(Self { api, limiter, limits, address_limit, max_messages, quote_rules, tone, tone_policy })
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
    state.limiter.enforce(FUNCTION, &caller, &state.limits).await?;
    if caller.user_id.is_none() && state.tone.uses_claude() {
        state.limiter.enforce_address(FUNCTION, http::source_ip(req).as_deref(), state.address_limit).await?;
    }

    let sender = chat::sender_of(&caller).ok_or_else(|| ApiError::unauthorized("credentials required"))?;
    let tone = state.tone.analyze(&content, http::deadline(req)).await;
    let decision = state.tone_policy.decide(tone.analysis.conflict_level);
    if decision == Decision::Refuse {
        return Err(tone.refusal());
    }
    let now = Utc::now();
    let tx = state.api.db.begin(&caller).await?;
    let user_message = NewMessage {
        role: "user",
        sender,
        content: &content,
        ui_elements: serde_json::json!([]),
        tone: Some(tone.stored()),
    };
    let limit = |room| chat::Limit { max_messages: state.max_messages, room };
    let message = chat::append(&tx, body.conversation_id, sender, &user_message, limit(2)).await?;
    let answer = assistant::reply(&tx, &caller, &content, &state.quote_rules, now).await?;
    let reply_message = NewMessage {
        role: "assistant",
        sender: Sender::Assistant,
        content: &answer.content,
        ui_elements: answer.ui_elements,
        tone: None,
    };
    let reply = chat::append(&tx, Some(message.conversation_id), sender, &reply_message, limit(1)).await?;
    tx.commit().await?;
    let tone_warning = (decision == Decision::Warn).then(|| {
        serde_json::json!({
            "conflict_level": tone.analysis.conflict_level,
            "indicators": tone.analysis.indicators,
            "neutral_rewrite": tone.analysis.neutral_rewrite,
            "provider": tone.provider,
        })
    });
    http::json(StatusCode::CREATED, &Created { message, reply, tone_warning })
}
