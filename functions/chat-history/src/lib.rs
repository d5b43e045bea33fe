//! `GET /v1/chat/conversations/{id}/messages?limit=&cursor=` — a conversation's messages,
//! oldest first, a page at a time (limit 1–100, default 50). `next_cursor` continues after
//! the last message returned; pages stay stable while new messages arrive. 404 for a
//! conversation that is not the caller's.

use shared::platform::http::{self, Request, Response, StatusCode};
use shared::{ApiError, FieldError, chat};

pub const FUNCTION: &str = "chat-history";
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 100;

/// The API role's pool and the identity verifier.
pub type State = shared::platform::state::ApiState;

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { get(state, &req).await }).await
}

async fn get(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.identity.caller(req).await?.require_any()?;
    let conversation_id = chat::conversation_id(req)?;
    let (limit, after) = page_params(req)?;
    let tx = state.db.begin(&caller).await?;
    // The two reads and COMMIT in one round trip.
    let page = tx.commit_with(chat::history(&tx, conversation_id, after, limit)).await?;
    tx.commit().await?;
    http::json(StatusCode::OK, &page)
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
