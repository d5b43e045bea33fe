//! `POST /webhooks/twilio/inbound` — an SMS someone sent to Parley's number (form-encoded:
//! `MessageSid`, `From`, `Body`).
//!
//! The signature is checked over `PARLEY_PUBLIC_URL` + path + query with
//! `TWILIO_AUTH_TOKEN`: missing or wrong → 403, nothing stored. Otherwise the answer is
//! always TwiML (`text/xml`, at least `<Response/>`): STOP/START/HELP keywords, or the body
//! as a chat message from the user whose verified phone sent it, answered by the assistant
//! — see `shared::sms::inbound` for the rules. A failure after the signature check (the
//! database down: 503 with `Retry-After`, nothing stored) is answered with an empty
//! `<Response/>` too, never problem+json. Runs as the service role, with the user's
//! id as the RLS context of the chat transaction.

use shared::ApiError;
use shared::chat::turn::ChatSettings;
use shared::platform::config::{ConfigError, ProcessEnv, Source};
use shared::platform::db::Database;
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::platform::secrets::SecretSetting;
use shared::sms::inbound::{self, Conversation};
use shared::sms::webhook::{self, SmsSettings};

pub const FUNCTION: &str = "twilio-inbound-webhook";

#[derive(Clone)]
pub struct State {
    conversation: Conversation,
    public_url: String,
    auth_token: Option<SecretSetting<String>>,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv).await
    }

    /// Reads `PARLEY_SERVICE_DATABASE_URL`, `PARLEY_PUBLIC_URL`, `TWILIO_AUTH_TOKEN`, and the
    /// chat settings `chat-message` reads (`ChatSettings`).
    pub async fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let db = Database::from_env(src, "PARLEY_SERVICE_DATABASE_URL")?;
        let public_url = SmsSettings::from_env(src)?.public_url;
        let auth_token = shared::sms::twilio::auth_token(src)?;
        let aws = shared::platform::aws::load().await;
        let conversation = Conversation { db, chat: ChatSettings::from_env(src, &aws)? };
        Ok(Self { conversation, public_url, auth_token })
    }
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { post(state, &req).await }).await
}

async fn post(state: &State, req: &Request) -> Result<Response, ApiError> {
    let params = webhook::verified_webhook(req, &state.public_url, state.auth_token.as_ref()).await?;
    let sid = webhook::param(&params, "MessageSid").unwrap_or_default();
    let from = webhook::param(&params, "From").unwrap_or_default();
    let body = webhook::param(&params, "Body").unwrap_or_default();
    let answer = if sid.is_empty() || from.is_empty() {
        tracing::warn!("inbound SMS webhook without MessageSid or From");
        Ok(inbound::twiml(None))
    } else {
        inbound::handle(&state.conversation, sid, from, body, http::deadline(req)).await
    };
    // Twilio reads TwiML, so even a failure (a database outage: 503, nothing stored) is
    // answered in TwiML — an empty `<Response/>` with the error's status and headers —
    // rather than problem+json; Twilio then logs error 11200 and tries the fallback URL.
    let (status, headers, twiml) = match answer {
        Ok(twiml) => (StatusCode::OK, Vec::new(), twiml),
        Err(err) => {
            http::log_error(&err);
            (err.status, err.headers, inbound::twiml(None))
        }
    };
    let mut response = ::http::Response::builder()
        .status(status)
        .header("content-type", "text/xml; charset=utf-8")
        .header("cache-control", "no-store");
    for (name, value) in headers {
        response = response.header(name, value);
    }
    Ok(response.body(twiml.into()).expect("static headers are valid"))
}
