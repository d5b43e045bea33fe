//! `GET /v1/chat/conversations/{id}/verification` — recompute the conversation's hash
//! chain from its stored messages: `{"valid", "checked", "first_invalid_index", "reason"}`.
//! 404 for a conversation that is not the caller's.

use shared::platform::http::{self, Request, Response, StatusCode};
use shared::{ApiError, chat};

pub const FUNCTION: &str = "chat-verification";

/// The API role's pool and the identity verifier.
pub type State = shared::platform::state::ApiState;

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { get(state, &req).await }).await
}

async fn get(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.identity.caller(req).await?.require_any()?;
    let conversation_id = chat::conversation_id(req)?;
    // One snapshot: a message appended meanwhile must not look like tampering.
    let tx = state.db.begin_snapshot(&caller).await?;
    let (verification, _) =
        chat::verify(&tx, conversation_id).await?.ok_or_else(|| ApiError::not_found("no such conversation"))?;
    tx.commit().await?;
    if !verification.valid {
        tracing::warn!(%conversation_id, first_invalid_index = ?verification.first_invalid_index, "message chain broken");
    }
    http::json(StatusCode::OK, &verification)
}
