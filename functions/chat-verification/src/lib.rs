//! `GET /v1/chat/conversations/{id}/verification` — recompute the conversation's hash
//! chain from its stored messages: `{"valid", "checked", "first_invalid_index", "reason"}`.
//! 404 for a conversation that is not the caller's.

use shared::config::{ConfigError, ProcessEnv, Source};
use shared::db::Database;
use shared::http::{self, Request, Response, StatusCode};
use shared::identity::Identity;
use shared::{ApiError, chat};

pub const FUNCTION: &str = "chat-verification";

#[derive(Clone)]
pub struct State {
    db: Database,
    identity: Identity,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self { db: Database::from_env(src, "PARLEY_DATABASE_URL")?, identity: Identity::from_env(src)? })
    }
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { get(state, &req).await }).await
}

async fn get(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.identity.caller(req).await?.require_any()?;
    let conversation_id =
        http::path_param(req, "id")?.parse().map_err(|_| ApiError::not_found("no such conversation"))?;
    let tx = state.db.begin(&caller).await?;
    let verification =
        chat::verify(&tx, conversation_id).await?.ok_or_else(|| ApiError::not_found("no such conversation"))?;
    tx.commit().await?;
    if !verification.valid {
        tracing::warn!(%conversation_id, first_invalid_index = ?verification.first_invalid_index, "message chain broken");
    }
    http::json(StatusCode::OK, &verification)
}
