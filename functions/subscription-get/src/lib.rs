//! `GET /v1/subscriptions/me` — the signed-in caller's plan: `plan` (their tier, `free`
//! without an active subscription), the subscription's Stripe `status`, its current period
//! and whether it ends at the period's end. Read from the database, which Stripe's webhook
//! keeps current; no call to Stripe.

use shared::ApiError;
use shared::payments::subscriptions;
use shared::platform::http::{self, Request, Response, StatusCode};

pub const FUNCTION: &str = "subscription-get";

/// The API role's pool and the identity verifier.
pub type State = shared::platform::state::ApiState;

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { get(state, &req).await }).await
}

async fn get(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.identity.caller(req).await?;
    let user_id = caller.require_user()?;
    let tx = state.db.begin_single(&caller).await?;
    let current = subscriptions::current(&tx, user_id).await?;
    tx.commit().await?;
    http::json(StatusCode::OK, &current)
}
