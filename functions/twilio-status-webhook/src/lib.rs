//! `POST /webhooks/twilio/status` — Twilio's delivery status callbacks for the SMS Parley
//! sent (form-encoded: `MessageSid`, `MessageStatus`, `ErrorCode`).
//!
//! The signature is checked over `PARLEY_PUBLIC_URL` + path + query with
//! `TWILIO_AUTH_TOKEN`: missing or wrong → 403, nothing stored. The status only moves
//! forward (`queued < sending < sent < delivered`, `read` after `delivered`, `undelivered`
//! and `failed` final), so callbacks in any order end at the right status; Twilio's error
//! code is kept. An unknown `MessageSid` → 200 and a warning (Twilio would only retry it).

use shared::ApiError;
use shared::platform::config::{ConfigError, ProcessEnv, Source};
use shared::platform::db::Database;
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::platform::secrets::SecretSetting;
use shared::sms::status::{self, Applied};
use shared::sms::webhook::{self, SmsSettings};

pub const FUNCTION: &str = "twilio-status-webhook";

#[derive(Clone)]
pub struct State {
    db: Database,
    public_url: String,
    auth_token: Option<SecretSetting<String>>,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    /// Reads `PARLEY_SERVICE_DATABASE_URL`, `PARLEY_PUBLIC_URL` and `TWILIO_AUTH_TOKEN`.
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self {
            db: Database::from_env(src, "PARLEY_SERVICE_DATABASE_URL")?,
            public_url: SmsSettings::from_env(src)?.public_url,
            auth_token: shared::sms::twilio::auth_token(src)?,
        })
    }
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { post(state, &req).await }).await
}

async fn post(state: &State, req: &Request) -> Result<Response, ApiError> {
    let params = webhook::verified_webhook(req, &state.public_url, state.auth_token.as_ref()).await?;
    let (Some(sid), Some(raw_status)) =
        (webhook::param(&params, "MessageSid"), webhook::param(&params, "MessageStatus"))
    else {
        return Err(ApiError::bad_request("MessageSid and MessageStatus are required"));
    };
    let Some(new_status) = status::normalise(raw_status) else {
        tracing::info!(sid, status = raw_status, "status callback with a status Parley does not track");
        return Ok(http::empty(StatusCode::OK));
    };
    let error_code: Option<i32> = webhook::param(&params, "ErrorCode").and_then(|c| c.trim().parse().ok());
    let tx = state.db.begin_service_single().await?;
    let applied = status::apply(&tx, sid, new_status, error_code).await?;
    tx.commit().await?;
    match applied {
        Applied::UnknownSid => tracing::warn!(sid, status = new_status, "status callback for an unknown MessageSid"),
        Applied::Stale => tracing::info!(sid, status = new_status, "status callback older than the stored status"),
        Applied::Advanced => tracing::info!(sid, status = new_status, error_code, "SMS status advanced"),
    }
    Ok(http::empty(StatusCode::OK))
}
