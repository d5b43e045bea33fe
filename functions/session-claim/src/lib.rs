//! `POST /v1/sessions/claim` — a signed-in user takes over an anonymous session: every
//! conversation it owns moves to the user in one transaction. Needs both credentials
//! (`Authorization: Bearer` and `x-anonymous-session`). Claiming again is a no-op 200; a
//! session claimed by another user is 409.

use shared::platform::http::{self, Request, Response, StatusCode};
use shared::platform::identity::ANONYMOUS_HEADER;
use shared::{ApiError, sessions};

pub const FUNCTION: &str = "session-claim";

/// The API role's pool and the identity verifier.
pub type State = shared::platform::state::ApiState;

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { post(state, &req).await }).await
}

async fn post(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.identity.caller(req).await?;
    let user_id = caller.require_user()?;
    let session_id = caller.anonymous_session_id.ok_or_else(|| {
        ApiError::unauthorized(format!("send the anonymous session token to claim in {ANONYMOUS_HEADER}"))
    })?;
    let tx = state.db.begin(&caller).await?;
    let claim = sessions::claim(&tx, session_id, user_id).await?;
    tx.commit().await?;
    tracing::info!(
        newly_claimed = claim.newly_claimed,
        conversations_moved = claim.conversations_moved,
        "session claimed"
    );
    http::json(StatusCode::OK, &claim)
}
