//! `POST /webhooks/twilio/inbound` — an SMS someone sent to Parley's number (form-encoded:
//! `MessageSid`, `From`, `Body`).
//!
//! The signature is checked over `PARLEY_PUBLIC_URL` + path + query with
//! `TWILIO_AUTH_TOKEN`: missing or wrong → 403, nothing stored. Otherwise the answer is
//! always TwiML (`text/xml`, at least `<Response/>`): STOP/START/HELP keywords, or the body
//! as a chat message from the user whose verified phone sent it, answered by the assistant
//! — see `shared::sms::inbound` for the rules. Runs as the service role, with the user's
//! id as the RLS context of the chat transaction.

use shared::ApiError;
use shared::commerce::quotes::QuoteRules;
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::db::Database;
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::sms::inbound::{self, Conversation};
use shared::sms::webhook::{self, SmsSettings};
use shared::tone::service::{TonePolicy, ToneService};

pub const FUNCTION: &str = "twilio-inbound-webhook";

#[derive(Clone)]
pub struct State {
    conversation: Conversation,
    public_url: String,
    auth_token: Vec<u8>,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv).await
    }

    /// Reads `PARLEY_SERVICE_DATABASE_URL`, `PARLEY_PUBLIC_URL`, `TWILIO_AUTH_TOKEN`, and the
    /// chat settings `chat-message` reads (`PARLEY_CHAT_MAX_MESSAGES`, quote and tone settings).
    pub async fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let db = Database::from_env(src, "PARLEY_SERVICE_DATABASE_URL")?;
        let public_url = SmsSettings::from_env(src)?.public_url;
        let auth_token = config::required(src, "TWILIO_AUTH_TOKEN")?.into_bytes();
        let max_messages: u32 = config::parsed_or(src, "PARLEY_CHAT_MAX_MESSAGES", 1000)?;
        if max_messages < 2 {
            return Err(ConfigError::new("PARLEY_CHAT_MAX_MESSAGES", "must be at least 2 (a message and its reply)"));
        }
        let aws = shared::platform::aws::load().await;
        let conversation = Conversation {
            db,
            tone: ToneService::from_env(src, &aws)?,
            tone_policy: TonePolicy::from_env(src)?,
            quote_rules: QuoteRules::from_env(src)?,
            max_messages,
        };
        Ok(Self { conversation, public_url, auth_token })
    }
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { post(state, &req).await }).await
}

async fn post(state: &State, req: &Request) -> Result<Response, ApiError> {
    let params = webhook::verified_webhook(req, &state.public_url, &state.auth_token)?;
    let sid = webhook::param(&params, "MessageSid").unwrap_or_default();
    let from = webhook::param(&params, "From").unwrap_or_default();
    let body = webhook::param(&params, "Body").unwrap_or_default();
    let twiml = if sid.is_empty() || from.is_empty() {
        tracing::warn!("inbound SMS webhook without MessageSid or From");
        inbound::twiml(None)
    } else {
        inbound::handle(&state.conversation, sid, from, body, http::deadline(req)).await?
    };
    Ok(::http::Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/xml; charset=utf-8")
        .header("cache-control", "no-store")
        .body(twiml.into())
        .expect("static headers are valid"))
}
