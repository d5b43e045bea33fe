//! `DELETE /v1/cart/items/{id}` — remove an item from the caller's cart. 204, also when it
//! was already removed; 404 when the caller has no such item; 409 once purchased.

use shared::ApiError;
use shared::commerce::cart;
use shared::platform::http::{self, Request, Response, StatusCode};
use uuid::Uuid;

pub const FUNCTION: &str = "cart-remove";

/// The API role's pool and the identity verifier.
pub type State = shared::platform::state::ApiState;

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { delete(state, &req).await }).await
}

async fn delete(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.identity.caller(req).await?.require_any()?;
    let id: Uuid = http::path_param(req, "id")?.parse().map_err(|_| ApiError::not_found("no such cart item"))?;
    let tx = state.db.begin_single(&caller).await?;
    cart::remove(&tx, id).await?;
    tx.commit().await?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}
