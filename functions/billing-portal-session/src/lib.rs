//! `POST /v1/billing/portal-sessions` — a Stripe Billing Portal session for the signed-in
//! caller, where they manage their cards and cancel a subscription (Parley never handles
//! card data: PCI SAQ A). 201 `{"url"}`; 409 when the caller has no Stripe customer yet
//! (they have never paid by card or subscribed). The portal returns to
//! `PARLEY_BILLING_RETURN_URL`. Changes made there reach Parley as webhook events.

use serde::Serialize;
use shared::ApiError;
use shared::payments::{orders, stripe::Stripe};
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::platform::state::ApiState;

pub const FUNCTION: &str = "billing-portal-session";

#[derive(Clone)]
pub struct State {
    api: ApiState,
    stripe: Stripe,
    return_url: String,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    /// The API settings, the Stripe settings and `PARLEY_BILLING_RETURN_URL`.
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let return_url = config::required(src, "PARLEY_BILLING_RETURN_URL")?;
        if !(return_url.starts_with("https://") || return_url.starts_with("http://")) {
            return Err(ConfigError::new("PARLEY_BILLING_RETURN_URL", "must be an http(s) URL"));
        }
        Ok(Self { api: ApiState::from_source(src)?, stripe: Stripe::from_env(src)?, return_url })
    }
}

#[derive(Serialize)]
struct Portal {
    url: String,
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { post(state, &req).await }).await
}

async fn post(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.api.identity.caller(req).await?;
    let user_id = caller.require_user()?;
    let tx = state.api.db.begin_single(&caller).await?;
    let customer = orders::stripe_customer(&tx, user_id).await?;
    tx.commit().await?;
    let customer = customer
        .ok_or_else(|| ApiError::conflict("there is no billing account yet: subscribe or pay by card first"))?;
    // A retried request (same request id) gets the same portal session back.
    let key = format!("parley-portal-{}", http::request_id(req));
    let url = state.stripe.create_portal_session(&customer, &state.return_url, &key).await?;
    http::json(StatusCode::CREATED, &Portal { url })
}
