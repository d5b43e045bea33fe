//! `POST /v1/quotes` — a server-priced quote for a product and a flight.
//!
//! Body `{"product_id", "flight": {"number", "origin", "destination", "departure_date"}}`;
//! unknown fields (a price, say) are refused. 201 with the quote; 422 naming every invalid
//! field at once (the product, the flight number, airports we cover, a departure date today
//! or later and within the horizon).

use chrono::Utc;
use shared::commerce::quotes::{self, QuoteBody, QuoteRules};
use shared::platform::config::{ConfigError, ProcessEnv, Source};
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::platform::state::ApiState;
use shared::{ApiError, FieldError};

pub const FUNCTION: &str = "quote-create";

#[derive(Clone)]
pub struct State {
    api: ApiState,
    rules: QuoteRules,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self { api: ApiState::from_source(src)?, rules: QuoteRules::from_env(src)? })
    }
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { post(state, &req).await }).await
}

async fn post(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.api.identity.caller(req).await?.require_any()?;
    let body: QuoteBody = http::json_body(req)?;
    let now = Utc::now();
    let tx = state.api.db.begin(&caller).await?;
    // Every problem is reported at once: the product and each flight field.
    let product = quotes::products(&tx, Some(&body.product_id)).await?.pop();
    let mut errors = Vec::new();
    if product.is_none() {
        errors.push(FieldError::new("product_id", "is not a product we sell (PROD_DELAY_60 or PROD_DELAY_120)"));
    }
    let flight =
        quotes::validate_flight(&body.flight, state.rules.today(now), &state.rules).map_err(|e| errors.extend(e)).ok();
    let (Some(product), Some(flight)) = (product, flight) else { return Err(ApiError::validation(errors)) };
    let quote = quotes::create(&tx, &caller, &product, &flight, &state.rules, now).await?;
    tx.commit().await?;
    http::json(StatusCode::CREATED, &quote)
}
