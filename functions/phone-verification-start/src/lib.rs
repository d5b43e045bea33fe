//! `POST /v1/phone/verifications` — send a verification code to a phone by SMS (Twilio
//! Verify, channel `sms`).
//!
//! Body `{"phone": string}` (a signed-in user only). The number is normalised to E.164 in
//! `PARLEY_PHONE_DEFAULT_REGION`; invalid → 422 naming `phone`. At most
//! `PARLEY_PHONE_VERIFY_RATE_LIMIT` (default 5 per hour) starts per user and per number →
//! 429 with `Retry-After`; the limiter fails closed (503) when DynamoDB is down, because every
//! start costs money and SMS pumping is the classic abuse of this endpoint. Twilio's own
//! limits (60203 …) are 429 too; a number Twilio cannot reach is 422. 202 on success.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use shared::ApiError;
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::platform::ratelimit::{Decision, FailMode, Limit, RateLimiter};
use shared::platform::state::ApiState;
use shared::sms::phone::{DefaultRegion, Phone};
use shared::sms::twilio::{Twilio, TwilioConfig};
use shared::sms::verification;

pub const FUNCTION: &str = "phone-verification-start";
pub const DEFAULT_LIMIT: Limit = Limit { max: 5, window: std::time::Duration::from_secs(3600) };

#[derive(Clone)]
pub struct State {
    api: ApiState,
    limiter: RateLimiter,
    limit: Limit,
    region: DefaultRegion,
    twilio: Twilio,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv).await
    }

    /// Reads the identity settings, `PARLEY_DATABASE_URL`, `PARLEY_TABLE_NAME`,
    /// `PARLEY_PHONE_VERIFY_RATE_LIMIT`, `PARLEY_PHONE_DEFAULT_REGION` and the `TWILIO_*` settings.
    pub async fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let api = ApiState::from_source(src)?;
        let table = config::required(src, "PARLEY_TABLE_NAME")?;
        let limit = Limit::from_env(src, "PARLEY_PHONE_VERIFY_RATE_LIMIT", DEFAULT_LIMIT)?;
        let region = DefaultRegion::from_env(src)?;
        // libphonenumber's metadata loads on the first parse, not at init: a warm-up thread
        // started here did not finish before the first request's parse, and made init slower
        // and less even (measured with and without: see the commit that removed it).
        let twilio = Twilio::new(TwilioConfig::from_env(src)?);
        let aws = shared::platform::aws::load().await;
        let limiter = RateLimiter::new(shared::platform::aws::dynamodb(&aws), table, FailMode::Closed);
        Ok(Self { api, limiter, limit, region, twilio })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    phone: String,
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { post(state, &req).await }).await
}

async fn post(state: &State, req: &Request) -> Result<Response, ApiError> {
    let user = state.api.identity.caller(req).await?.require_user()?;
    let body: Body = http::json_body(req)?;
    let phone = Phone::parse(&body.phone, state.region, "phone").map_err(|e| ApiError::validation(vec![e]))?;
    // The number's key is a digest: the limiter's table holds no phone numbers.
    let digest = Sha256::digest(phone.e164().as_bytes());
    let number_key: String =
        std::iter::once("n:".to_owned()).chain(digest.iter().map(|b| format!("{b:02x}"))).collect();
    for key in [format!("u:{user}"), number_key] {
        if let Decision::Limited { retry_after } = state.limiter.check(FUNCTION, &key, state.limit).await? {
            let secs = retry_after.as_secs().max(1);
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                format!("at most {} verification codes per hour; retry in {secs} s", state.limit.max),
            )
            .with_header(::http::header::RETRY_AFTER, secs.to_string()));
        }
    }
    verification::start(&state.twilio, &phone).await?;
    http::json(StatusCode::ACCEPTED, &serde_json::json!({ "status": "pending", "channel": "sms" }))
}
