//! `GET /v1/wallets/me` — the signed-in user's wallet: address and balance (integer US
//! cents, from the ledger). Never key material. 404 when the user has none.

use shared::ApiError;
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::wallets;

pub const FUNCTION: &str = "wallet-get";

/// The API role's pool and the identity verifier.
pub type State = shared::platform::state::ApiState;

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { get(state, &req).await }).await
}

async fn get(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.identity.caller(req).await?;
    let user_id = caller.require_user()?;
    let tx = state.db.begin_single(&caller).await?;
    let wallet = wallets::find(&tx, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("this user has no wallet; create one with POST /v1/wallets"))?;
    tx.commit().await?;
    http::json(StatusCode::OK, &wallet)
}
