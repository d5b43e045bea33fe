//! `GET /v1/orders/{id}` — one of the signed-in caller's orders with its items; 404 for an
//! order that is not theirs (row-level security decides).

use shared::platform::http::{self, Request, Response, StatusCode};
use shared::{ApiError, payments::orders};
use uuid::Uuid;

pub const FUNCTION: &str = "order-get";

/// The API role's pool and the identity verifier.
pub type State = shared::platform::state::ApiState;

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { get(state, &req).await }).await
}

async fn get(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.identity.caller(req).await?;
    caller.require_user()?;
    let id: Uuid = http::path_param(req, "id")?.parse().map_err(|_| ApiError::not_found("no such order"))?;
    let tx = state.db.begin_single(&caller).await?;
    let order = orders::get(&tx, id).await?;
    tx.commit().await?;
    http::json(StatusCode::OK, &order)
}
