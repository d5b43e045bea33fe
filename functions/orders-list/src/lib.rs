//! `GET /v1/orders?limit=&cursor=` — the signed-in caller's orders with their items, newest
//! first (limit 1–100, default 20). `next_cursor` continues after the last order returned.

use shared::platform::http::{self, Request, Response, StatusCode};
use shared::{ApiError, FieldError, payments::orders};
use uuid::Uuid;

pub const FUNCTION: &str = "orders-list";
pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// The API role's pool and the identity verifier.
pub type State = shared::platform::state::ApiState;

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { get(state, &req).await }).await
}

async fn get(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.identity.caller(req).await?;
    caller.require_user()?;
    let (limit, cursor) = page_params(req)?;
    let tx = state.db.begin_single(&caller).await?;
    let page = orders::list(&tx, cursor, limit).await?;
    tx.commit().await?;
    http::json(StatusCode::OK, &page)
}

fn page_params(req: &Request) -> Result<(i64, Option<Uuid>), ApiError> {
    use lambda_http::RequestExt;
    let query = req.query_string_parameters();
    let mut errors = Vec::new();
    let limit = match query.first("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                errors.push(FieldError::new("limit", format!("must be a whole number from 1 to {MAX_LIMIT}")));
                DEFAULT_LIMIT
            }
        },
    };
    let cursor = match query.first("cursor") {
        None | Some("") => None,
        Some(c) => match c.parse::<Uuid>() {
            Ok(id) => Some(id),
            Err(_) => {
                errors.push(FieldError::new("cursor", "is not a cursor this API returned"));
                None
            }
        },
    };
    if errors.is_empty() { Ok((limit, cursor)) } else { Err(ApiError::validation(errors)) }
}
