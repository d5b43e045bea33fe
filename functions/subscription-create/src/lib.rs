//! `POST /v1/subscriptions` — start a subscription to a plan.
//!
//! Body `{"plan"}`, one of the plans on sale (`PARLEY_STRIPE_PLANS`: plan → Stripe price);
//! signed-in users only. Opens a Stripe Checkout Session in `subscription` mode for the
//! plan's price, for the user's Stripe customer (created once) → 201 `{"plan",
//! "session_id", "checkout_url", "expires_at"}`. The subscription itself appears when
//! Stripe's webhook reports it (`GET /v1/subscriptions/me`). 422 for a plan not on sale;
//! 409 when the caller already has an active subscription (they change it in the billing
//! portal). Honours `Idempotency-Key`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::ApiError;
use shared::payments::orders;
use shared::payments::stripe::{CheckoutUrls, Stripe};
use shared::payments::subscriptions::{self, Plans};
use shared::platform::audit::{self, Entry};
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::error::FieldError;
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::platform::idempotency::IdempotencyStore;
use shared::platform::state::ApiState;

pub const FUNCTION: &str = "subscription-create";

#[derive(Clone)]
pub struct State {
    api: ApiState,
    idempotency: IdempotencyStore,
    stripe: Stripe,
    plans: Plans,
    urls: CheckoutUrls,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv).await
    }

    /// The API settings, `PARLEY_TABLE_NAME` (idempotency), the Stripe settings,
    /// `PARLEY_STRIPE_PLANS` and the checkout return URLs.
    pub async fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let api = ApiState::from_source(src)?;
        let table = config::required(src, "PARLEY_TABLE_NAME")?;
        let aws = shared::platform::aws::load().await;
        Ok(Self {
            api,
            idempotency: IdempotencyStore::new(shared::platform::aws::dynamodb(&aws), table),
            stripe: Stripe::from_env(src)?,
            plans: Plans::from_env(src)?,
            urls: CheckoutUrls::from_env(src)?,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    plan: String,
}

#[derive(Debug, Serialize)]
struct Started<'a> {
    plan: &'a str,
    session_id: String,
    checkout_url: String,
    expires_at: DateTime<Utc>,
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { post(state, &req).await }).await
}

async fn post(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.api.identity.caller(req).await?;
    let user_id = caller.require_user()?;
    let body: Body = http::json_body(req)?;
    let price = state.plans.price_of(&body.plan).ok_or_else(|| {
        let on_sale = state.plans.names();
        let message = if on_sale.is_empty() {
            "no plan is on sale".to_owned()
        } else {
            format!("must be one of: {}", on_sale.join(", "))
        };
        ApiError::validation(vec![FieldError::new("plan", message)])
    })?;
    let request_id = http::request_id(req);
    state
        .idempotency
        .run(FUNCTION, &caller.key(), req, || async {
            let tx = state.api.db.begin(&caller).await?;
            let current = subscriptions::current(&tx, user_id).await?;
            if current.plan != subscriptions::FREE {
                return Err(ApiError::conflict(format!(
                    "you already subscribe to {}; change or cancel it in the billing portal \
                     (POST /v1/billing/portal-sessions)",
                    current.plan
                )));
            }
            let known = orders::stripe_customer(&tx, user_id).await?;
            tx.commit().await?;
            // No transaction waits on Stripe: the customer and the session are created
            // between this read and the write below.
            let customer = state.stripe.customer(known.as_deref(), user_id).await?;
            let key = format!("parley-subscribe-{request_id}");
            let session = state
                .stripe
                .create_subscription_session(user_id, &customer, &body.plan, price, &state.urls, &key)
                .await?;
            let tx = state.api.db.begin(&caller).await?;
            if known.is_none() {
                orders::remember_stripe_customer(&tx, user_id, &customer).await?;
            }
            let entry = Entry {
                actor_user_id: Some(user_id),
                action: "subscription.checkout_started",
                subject_type: "subscription",
                subject_id: None,
                request_id: Some(&request_id),
                details: serde_json::json!({"plan": body.plan, "checkout_session_id": session.id}),
            };
            audit::record(&tx, &entry).await?;
            tx.commit().await?;
            tracing::info!(plan = %body.plan, "subscription checkout opened");
            http::json(
                StatusCode::CREATED,
                &Started {
                    plan: &body.plan,
                    session_id: session.id,
                    checkout_url: session.url,
                    expires_at: session.expires_at,
                },
            )
        })
        .await
}
