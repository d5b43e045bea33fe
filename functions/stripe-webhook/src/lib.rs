//! `POST /webhooks/stripe` — Stripe's events, verified, stored once and applied once.
//!
//! - The `Stripe-Signature` header is checked against the **raw bytes** of the body (API
//!   Gateway's base64 encoding undone, never re-serialised JSON) with every configured
//!   signing secret (`PARLEY_STRIPE_WEBHOOK_SECRETS`, so a secret can be rolled), every `v1`
//!   in the header, 300 s tolerance. Anything else → 400 and nothing stored.
//! - A verified event is stored in `webhook_events` even when its type is unknown or its
//!   body does not parse; its effects and `processed` mark commit together
//!   (`shared::payments::events`). A duplicate delivery → 200, nothing changes.
//! - Subscription and invoice events apply the object's current state, read from Stripe
//!   (`PARLEY_STRIPE_SECRET_KEY`, `PARLEY_STRIPE_PLANS`), never the event's copy.
//! - A transient failure (the database or Stripe down) → 503, so Stripe delivers again; a permanent
//!   one is stored `failed` with its error → 200 (the retry job takes it from there).
//! - A fulfilment queues the order's confirmation SMS in its own transaction; it is sent
//!   right after commit when Twilio is configured (`TWILIO_ACCOUNT_SID`), and by the
//!   `send-sms` job otherwise or when that send fails — never inside the payment's effect.

use serde::Serialize;
use shared::ApiError;
use shared::payments::events::{self, Applied};
use shared::payments::stripe::{EventEffects, WebhookSecrets};
use shared::platform::config::{ConfigError, ProcessEnv, Source};
use shared::platform::db::Database;
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::sms::outbox::{self, Sender};
use shared::sms::twilio::{Twilio, TwilioConfig};
use shared::sms::webhook::SmsSettings;

pub const FUNCTION: &str = "stripe-webhook";

#[derive(Clone)]
pub struct State {
    db: Database,
    secrets: WebhookSecrets,
    effects: EventEffects,
    /// Sends a fulfilled order's confirmation right after commit; `None` without Twilio.
    sms: Option<Sender>,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let db = Database::from_env(src, "PARLEY_SERVICE_DATABASE_URL")?;
        let sms = match shared::platform::config::optional(src, "TWILIO_ACCOUNT_SID") {
            Some(_) => {
                Some(Sender::new(db.clone(), Twilio::new(TwilioConfig::from_env(src)?), SmsSettings::from_env(src)?))
            }
            None => None,
        };
        Ok(Self { db, secrets: WebhookSecrets::from_env(src)?, effects: EventEffects::from_env(src)?, sms })
    }
}

#[derive(Serialize)]
struct Receipt<'a> {
    received: bool,
    event_id: &'a str,
    outcome: &'static str,
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { post(state, &req).await }).await
}

async fn post(state: &State, req: &Request) -> Result<Response, ApiError> {
    let signature = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::bad_request("the Stripe-Signature header is missing"))?;
    let incoming = state.secrets.verify(req.body().as_ref(), signature).await?;
    let outcome = events::receive(&state.db, &incoming, &state.effects.for_function(FUNCTION)).await?;
    let outcome = match outcome {
        Applied::Processed => "processed",
        Applied::Duplicate => "duplicate",
        Applied::Failed(_) => "failed",
    };
    tracing::info!(event_id = %incoming.event_id, event_type = %incoming.event_type, outcome, "stripe event");
    if outcome == "processed" {
        send_confirmation(state, &incoming.payload).await;
    }
    http::json(StatusCode::OK, &Receipt { received: true, event_id: &incoming.event_id, outcome })
}

/// Sends the confirmation a fulfilment queued, now that it has committed. A failure here
/// changes nothing for Stripe: the row stays pending and `send-sms` sends it later.
async fn send_confirmation(state: &State, payload: &str) {
    let (Some(sender), Some(order_id)) = (&state.sms, events::order_of_event(payload)) else { return };
    let sent = async {
        let ids = outbox::pending_with_key(&state.db, &events::confirmation_key(order_id)).await?;
        sender.send_pending_now(&ids).await
    };
    if let Err(e) = sent.await {
        tracing::warn!(%order_id, error = %e, "order confirmation not sent now; send-sms will retry");
    }
}
