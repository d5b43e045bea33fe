//! Every HTTP function's handler, hosted in one process. Each function's `State` is built
//! once from the environment — exactly as its Lambda cold start would — and its `handle`
//! serves the requests the router sends it.
//!
//! Adding a function: add its crate to this package's dependencies and one line to
//! [`build`] (or [`invoke`] for a job). The test `every_template_route_has_a_local_handler` fails until you do.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use shared::platform::config::ConfigError;
use shared::platform::http::{Request, Response};

pub type Handler = Arc<dyn Fn(Request) -> BoxFuture<'static, Response> + Send + Sync>;

/// Builds the state of function `$krate` and wraps its handler.
macro_rules! host {
    ($krate:ident) => {
        Some($krate::State::from_env().await.map(|state| -> Handler {
            Arc::new(move |req| {
                let state = state.clone();
                Box::pin(async move { $krate::handle(&state, req).await })
            })
        }))
    };
}

/// The handler of the HTTP function named `name` (its crate name under `functions/`);
/// `None` when this binary does not host it.
pub async fn build(name: &str) -> Option<Result<Handler, ConfigError>> {
    match name {
        "health" => host!(health),
        "session-anonymous" => host!(session_anonymous),
        "session-me" => host!(session_me),
        "session-claim" => host!(session_claim),
        "chat-message" => host!(chat_message),
        "chat-history" => host!(chat_history),
        "chat-verification" => host!(chat_verification),
        "quote-create" => host!(quote_create),
        "cart-add" => host!(cart_add),
        "cart-get" => host!(cart_get),
        "cart-remove" => host!(cart_remove),
        "wallet-create" => host!(wallet_create),
        "wallet-get" => host!(wallet_get),
        "wallet-sign" => host!(wallet_sign),
        "tone-analysis" => host!(tone_analysis),
        "checkout" => host!(checkout),
        "orders-list" => host!(orders_list),
        "order-get" => host!(order_get),
        "stripe-webhook" => host!(stripe_webhook),
        "phone-verification-start" => host!(phone_verification_start),
        "phone-verification-check" => host!(phone_verification_check),
        "twilio-status-webhook" => host!(twilio_status_webhook),
        "twilio-inbound-webhook" => host!(twilio_inbound_webhook),
        "subscription-create" => host!(subscription_create),
        "subscription-get" => host!(subscription_get),
        "billing-portal-session" => host!(billing_portal_session),
        _ => None,
    }
}

/// Handlers for every name in `names`; an unknown name or a bad setting is an error.
pub async fn build_all<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<BTreeMap<String, Handler>, String> {
    let mut handlers = BTreeMap::new();
    for name in names {
        if handlers.contains_key(name) {
            continue;
        }
        match build(name).await {
            Some(Ok(h)) => {
                handlers.insert(name.to_owned(), h);
            }
            Some(Err(e)) => return Err(format!("{name}: configuration error: {e}")),
            None => {
                return Err(format!(
                    "functions/{name} has a route in the template but no handler in tools/local/src/registry.rs"
                ));
            }
        }
    }
    Ok(handlers)
}

/// Runs the event-driven function `name` (a scheduled job, `migrate`) once with `payload`,
/// as Lambda would: state built from the environment, then one invocation. Returns the
/// function's JSON result.
pub async fn invoke(name: &str, payload: serde_json::Value) -> Result<serde_json::Value, String> {
    macro_rules! once {
        ($krate:ident) => {{
            let state = $krate::State::from_env().await.map_err(|e| format!("{name}: configuration error: {e}"))?;
            let event = lambda_runtime::LambdaEvent::new(payload, lambda_runtime::Context::default());
            let result = $krate::handle(&state, event).await.map_err(|e| format!("{name} failed: {e}"))?;
            serde_json::to_value(result).map_err(|e| e.to_string())
        }};
    }
    match name {
        "migrate" => once!(migrate),
        "verify-chains" => once!(verify_chains),
        "sweep-expired" => once!(sweep_expired),
        "rewrap-wallet-keys" => once!(rewrap_wallet_keys),
        "retry-webhooks" => once!(retry_webhooks),
        "reconcile-stripe" => once!(reconcile_stripe),
        "send-sms" => once!(send_sms),
        _ => Err(format!("{name} is not an event-driven function this binary hosts (see {JOB_FUNCTIONS:?})")),
    }
}

/// The event-driven functions [`invoke`] can run.
pub const JOB_FUNCTIONS: &[&str] = &[
    "migrate",
    "verify-chains",
    "sweep-expired",
    "rewrap-wallet-keys",
    "retry-webhooks",
    "reconcile-stripe",
    "send-sms",
];
