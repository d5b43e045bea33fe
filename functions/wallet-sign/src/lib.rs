//! `POST /v1/wallets/me/signatures` — sign a message with the user's wallet key.
//!
//! Body `{"message": string}` (at most 4096 bytes of UTF-8) → `{"address", "signature"}`,
//! an EIP-191 `personal_sign` signature any Ethereum library recovers to the address. The
//! key is decrypted by KMS for this call only. Rate-limited (default 30/min per user);
//! the limiter fails **closed**: no signing while DynamoDB cannot count.

use serde::Deserialize;
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::platform::ratelimit::{CallerLimits, FailMode, Limit, RateLimiter};
use shared::platform::state::ApiState;
use shared::wallets::custody::KeyCustody;
use shared::{ApiError, FieldError, wallets};

pub const FUNCTION: &str = "wallet-sign";
pub const DEFAULT_LIMIT: Limit = Limit::per_minute(30);

#[derive(Clone)]
pub struct State {
    api: ApiState,
    custody: KeyCustody,
    limiter: RateLimiter,
    limits: CallerLimits,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv).await
    }

    /// Reads the API settings, `PARLEY_KMS_KEY_ID`, `PARLEY_TABLE_NAME` and
    /// `PARLEY_SIGN_RATE_LIMIT` (`<max>/<seconds>s`, default 30/60s).
    pub async fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let api = ApiState::from_source(src)?;
        let key_id = config::required(src, "PARLEY_KMS_KEY_ID")?;
        let table = config::required(src, "PARLEY_TABLE_NAME")?;
        let limit = Limit::from_env(src, "PARLEY_SIGN_RATE_LIMIT", DEFAULT_LIMIT)?;
        let aws = shared::platform::aws::load().await;
        Ok(Self {
            api,
            custody: KeyCustody::new(shared::platform::aws::kms(&aws), key_id),
            limiter: RateLimiter::new(shared::platform::aws::dynamodb(&aws), table, FailMode::Closed),
            limits: CallerLimits { anonymous: limit, user: limit },
        })
    }

    /// The same state with another key custody (tests point it at a KMS that hangs).
    pub fn with_custody(mut self, custody: KeyCustody) -> Self {
        self.custody = custody;
        self
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    message: String,
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { post(state, &req).await }).await
}

async fn post(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.api.identity.caller(req).await?;
    let user_id = caller.require_user()?;
    let body: Body = http::json_body(req)?;
    if body.message.len() > wallets::MAX_MESSAGE_BYTES {
        return Err(ApiError::validation(vec![FieldError::new(
            "message",
            format!("must be at most {} bytes (got {})", wallets::MAX_MESSAGE_BYTES, body.message.len()),
        )]));
    }
    state.limiter.enforce(FUNCTION, &caller, &state.limits).await?;
    let signed =
        wallets::sign(&state.api.db, &caller, &state.custody, user_id, &body.message, &http::request_id(req)).await?;
    http::json(StatusCode::OK, &signed)
}
