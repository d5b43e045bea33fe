//! `POST /v1/cart/items` — put a quote in the caller's cart.
//!
//! Body `{"quote_id"}`. 201 with the new item; 200 with the same item when the quote is
//! already in the cart; 404 for someone else's (or no) quote; 410 for an expired quote;
//! 409 when 20 items are already active. Honours `Idempotency-Key`: a retry with the same
//! key and body gets the first response back byte for byte.

use chrono::Utc;
use serde::Deserialize;
use shared::ApiError;
use shared::commerce::cart::{self, Added};
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::platform::idempotency::IdempotencyStore;
use shared::platform::state::ApiState;
use uuid::Uuid;

pub const FUNCTION: &str = "cart-add";

#[derive(Clone)]
pub struct State {
    api: ApiState,
    idempotency: IdempotencyStore,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv).await
    }

    pub async fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let api = ApiState::from_source(src)?;
        let table = config::required(src, "PARLEY_TABLE_NAME")?;
        let aws = shared::platform::aws::load().await;
        Ok(Self { api, idempotency: IdempotencyStore::new(shared::platform::aws::dynamodb(&aws), table) })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    quote_id: Uuid,
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { post(state, &req).await }).await
}

async fn post(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.api.identity.caller(req).await?.require_any()?;
    let body: Body = http::json_body(req)?;
    let key = caller.key();
    state
        .idempotency
        .run(FUNCTION, &key, req, || async {
            let tx = state.api.db.begin(&caller).await?;
            let (item, added) = cart::add(&tx, &caller, body.quote_id, Utc::now()).await?;
            tx.commit().await?;
            let status = if added == Added::Created { StatusCode::CREATED } else { StatusCode::OK };
            http::json(status, &item)
        })
        .await
}
