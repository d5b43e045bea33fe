//! `GET /v1/sessions/me` — who does this request identify?
//!
//! A user token wins over an anonymous token when both are sent. No credentials, or a
//! credential that fails verification, is 401. Touches no database: identity is proven by
//! the token signatures alone.

use serde::Serialize;
use shared::ApiError;
use shared::platform::config::{ConfigError, ProcessEnv, Source};
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::platform::identity::Identity;
use uuid::Uuid;

pub const FUNCTION: &str = "session-me";

#[derive(Clone)]
pub struct State {
    identity: Identity,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self { identity: shared::platform::state::identity_from_env(src)? })
    }
}

#[derive(Debug, Serialize)]
struct Me {
    kind: &'static str,
    id: Uuid,
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { me(state, &req).await }).await
}

async fn me(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.identity.caller(req).await?.require_any()?;
    let me = match (caller.user_id, caller.anonymous_session_id) {
        (Some(id), _) => Me { kind: "user", id },
        (None, Some(id)) => Me { kind: "anonymous", id },
        (None, None) => unreachable!("require_any refused an empty caller"),
    };
    http::json(StatusCode::OK, &me)
}
