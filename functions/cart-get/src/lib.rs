//! `GET /v1/cart` — the caller's active cart items (whose quotes are still valid) and
//! their total premium.

use chrono::Utc;
use shared::ApiError;
use shared::commerce::cart;
use shared::platform::http::{self, Request, Response, StatusCode};

pub const FUNCTION: &str = "cart-get";

/// The API role's pool and the identity verifier.
pub type State = shared::platform::state::ApiState;

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { get(state, &req).await }).await
}

async fn get(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.identity.caller(req).await?.require_any()?;
    let tx = state.db.begin_single(&caller).await?;
    let cart = cart::get(&tx, Utc::now()).await?;
    tx.commit().await?;
    http::json(StatusCode::OK, &cart)
}
