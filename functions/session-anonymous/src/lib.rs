//! `POST /v1/sessions/anonymous` — start an anonymous session.
//!
//! Stores the session row (RLS: the new session may insert only itself) and answers 201
//! with a server-signed token valid for 24 hours. Needs no body and no credentials.

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use shared::ApiError;
use shared::platform::db::Type;
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::platform::identity::Caller;
use uuid::Uuid;

pub const FUNCTION: &str = "session-anonymous";

/// The API role's pool and the identity verifier.
pub type State = shared::platform::state::ApiState;

#[derive(Debug, Serialize)]
struct Created {
    session_id: Uuid,
    token: String,
    expires_at: DateTime<Utc>,
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |_| create(state)).await
}

async fn create(state: &State) -> Result<Response, ApiError> {
    let session_id = Uuid::now_v7();
    let now = Utc::now().trunc_subsecs(6); // what timestamptz stores
    let issued = state.identity.issue_anonymous(session_id, now);
    state
        .db
        .one_shot(
            &Caller::anonymous(session_id),
            "INSERT INTO anonymous_sessions (id, created_at, expires_at) VALUES ($1, $2, $3)",
            &[(&session_id, Type::UUID), (&now, Type::TIMESTAMPTZ), (&issued.expires_at, Type::TIMESTAMPTZ)],
        )
        .await?;
    http::json(StatusCode::CREATED, &Created { session_id, token: issued.token, expires_at: issued.expires_at })
}
