//! `GET /v1/chat/conversations/{id}/messages?limit=&cursor=` — a conversation's messages,
//! oldest first, a page at a time (limit 1–100, default 50). `next_cursor` continues after
//! the last message returned; pages stay stable while new messages arrive. 404 for a
//! conversation that is not the caller's.

use shared::config::{ConfigError, ProcessEnv, Source};
use shared::db::Database;
use shared::http::{self, Request, Response, StatusCode};
use shared::identity::Identity;
use shared::{ApiError, FieldError, chat};
use uuid::Uuid;

pub const FUNCTION: &str = "chat-history";
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 100;

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
    let conversation_id = conversation_id(req)?;
    let (limit, after) = page_params(req)?;
    let tx = state.db.begin(&caller).await?;
    let page = chat::history(&tx, conversation_id, after, limit).await?;
    tx.commit().await?;
    http::json(StatusCode::OK, &page)
}

/// The `{id}` path parameter; a malformed id cannot name a conversation, so it is a 404.
pub fn conversation_id(req: &Request) -> Result<Uuid, ApiError> {
    http::path_param(req, "id")?.parse().map_err(|_| ApiError::not_found("no such conversation"))
}

fn page_params(req: &Request) -> Result<(u32, Option<i32>), ApiError> {
    use lambda_http::RequestExt;
    let query = req.query_string_parameters();
    let mut errors = Vec::new();
    let limit = match query.first("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                errors.push(FieldError::new("limit", format!("must be a whole number from 1 to {MAX_LIMIT}")));
                DEFAULT_LIMIT
            }
        },
    };
    let after = match query.first("cursor") {
        None | Some("") => None,
        Some(c) => {
            let decoded = chat::decode_cursor(c);
            if decoded.is_none() {
                errors.push(FieldError::new("cursor", "is not a cursor this API returned"));
            }
            decoded
        }
    };
    if errors.is_empty() { Ok((limit, after)) } else { Err(ApiError::validation(errors)) }
}
