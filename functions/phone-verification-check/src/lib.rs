//! `POST /v1/phone/verifications/check` — check the code Twilio Verify sent and store the
//! number as the caller's verified phone.
//!
//! Body `{"phone": string, "code": string}` (a signed-in user only). 200 with the masked
//! number once Twilio approves; the number replaces the user's older phone and a
//! verification notice is queued in the same transaction (sent after commit). A wrong code
//! → 422 naming `code`; too many tries (60202) → 429; an expired or unknown verification
//! → 410 saying to start again; a number verified on another account → 409.

use serde::Deserialize;
use shared::ApiError;
use shared::platform::config::{ConfigError, ProcessEnv, Source};
use shared::platform::db::Database;
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::platform::state::ApiState;
use shared::sms::outbox::{self, Sender, Template};
use shared::sms::phone::{DefaultRegion, Phone};
use shared::sms::twilio::{Twilio, TwilioConfig};
use shared::sms::verification;
use shared::sms::webhook::SmsSettings;

pub const FUNCTION: &str = "phone-verification-check";

#[derive(Clone)]
pub struct State {
    api: ApiState,
    region: DefaultRegion,
    twilio: Twilio,
    sender: Sender,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    /// Reads the identity settings, `PARLEY_DATABASE_URL`, `PARLEY_SERVICE_DATABASE_URL`
    /// (the outbox sender), `PARLEY_PHONE_DEFAULT_REGION`, `PARLEY_PUBLIC_URL`,
    /// `PARLEY_SMS_*` and the `TWILIO_*` settings.
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let api = ApiState::from_source(src)?;
        let region = DefaultRegion::from_env(src)?;
        let twilio = Twilio::new(TwilioConfig::from_env(src)?);
        let service = Database::from_env(src, "PARLEY_SERVICE_DATABASE_URL")?;
        let sender = Sender::new(service, twilio.clone(), SmsSettings::from_env(src)?);
        Ok(Self { api, region, twilio, sender })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    phone: String,
    code: String,
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { post(state, &req).await }).await
}

async fn post(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.api.identity.caller(req).await?;
    let user = caller.require_user()?;
    let body: Body = http::json_body(req)?;
    let phone = Phone::parse(&body.phone, state.region, "phone").map_err(|e| ApiError::validation(vec![e]))?;
    verification::check(&state.twilio, &phone, &body.code).await?;
    let tx = state.api.db.begin(&caller).await?;
    verification::store(&tx, user, &phone).await?;
    let notice = outbox::enqueue(&tx, user, &Template::VerificationNotice, None).await?;
    tx.commit().await?;
    tracing::info!(phone = %phone, "phone verified");
    if let Some(id) = notice {
        // After commit, never inside it; a failure here is the send-sms job's to retry.
        if let Err(e) = state.sender.send_pending_now(&[id]).await {
            tracing::warn!(error = %e, "verification notice left to the send-sms job");
        }
    }
    http::json(StatusCode::OK, &serde_json::json!({ "phone": phone.masked(), "verified": true }))
}
