//! `POST /v1/checkout` — pay for the caller's cart.
//!
//! Body `{"method": "card" | "wallet"}`; signed-in users only. Either way an order is
//! opened for the active cart items at the server's prices: 409 when the cart is empty (or
//! a checkout for its items is pending), 410 naming the quotes that expired.
//! - `card`: the user's Stripe customer (created once), then a Checkout Session → 201
//!   `{"order_id", "checkout_url", "expires_at"}`; the order stays `PENDING` until Stripe's
//!   webhook says it is paid.
//! - `wallet`: the ledger debit, order `PAID` and items `PURCHASED` in one transaction →
//!   201 `{"order_id", "status", "balance_cents"}`; 402 when the balance is short, and then
//!   nothing changed.
//!
//! Honours `Idempotency-Key`. No transaction waits on Stripe: a card order is committed
//! `PENDING` before the Stripe calls (each bounded by a deadline, keyed by the user and order
//! ids) and gets its session in a second transaction. If Stripe fails, the order is closed
//! `FAILED` and its items are free again (503); a retry opens a new order.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use shared::ApiError;
use shared::payments::orders::{self, Draft, Method};
use shared::payments::stripe::{CheckoutUrls, Stripe};
use shared::platform::audit;
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::db::Tx;
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::platform::idempotency::IdempotencyStore;
use shared::platform::identity::Caller;
use shared::platform::state::ApiState;
use uuid::Uuid;

pub const FUNCTION: &str = "checkout";

/// Stripe accepts Checkout Session lifetimes from 30 minutes to 24 hours; the shortest keeps
/// an abandoned checkout from holding the cart's items for long.
const SESSION_LIFETIME_MINUTES: i64 = 31;

#[derive(Clone)]
pub struct State {
    api: ApiState,
    idempotency: IdempotencyStore,
    stripe: Stripe,
    urls: CheckoutUrls,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv).await
    }

    pub async fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let api = ApiState::from_source(src)?;
        let table = config::required(src, "PARLEY_TABLE_NAME")?;
        let stripe = Stripe::from_env(src)?;
        let urls = CheckoutUrls::from_env(src)?;
        let aws = shared::platform::aws::load().await;
        Ok(Self { api, idempotency: IdempotencyStore::new(shared::platform::aws::dynamodb(&aws), table), stripe, urls })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    method: Method,
}

#[derive(Debug, Serialize)]
struct CardCheckout {
    order_id: Uuid,
    status: &'static str,
    checkout_url: String,
    expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
struct WalletCheckout {
    order_id: Uuid,
    status: &'static str,
    total_cents: i64,
    balance_cents: i64,
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { post(state, &req).await }).await
}

async fn post(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.api.identity.caller(req).await?;
    let user_id = caller.require_user()?;
    let body: Body = http::json_body(req)?;
    let request_id = http::request_id(req);
    state
        .idempotency
        .run(FUNCTION, &caller.key(), req, || async {
            let now = Utc::now();
            let tx = state.api.db.begin(&caller).await?;
            let draft = orders::open(&tx, user_id, body.method, now).await?;
            match body.method {
                Method::Wallet => {
                    let balance = orders::pay_with_wallet(&tx, &draft, Some(&request_id)).await?;
                    tx.commit().await?;
                    tracing::info!(order_id = %draft.order_id, total_cents = draft.total_cents, "paid from the wallet");
                    http::json(
                        StatusCode::CREATED,
                        &WalletCheckout {
                            order_id: draft.order_id,
                            status: "PAID",
                            total_cents: draft.total_cents,
                            balance_cents: balance,
                        },
                    )
                }
                Method::Card => card(state, &caller, tx, draft, &request_id, now).await,
            }
        })
        .await
}

/// A card checkout in three steps, so that no transaction (and none of the cart's row locks)
/// waits on Stripe: the order `PENDING`, its items held, is committed; the customer (once
/// per user) and the Checkout Session are created at Stripe; the session is attached in a
/// second transaction. When Stripe fails the order is closed `FAILED` at once. If the
/// function dies between the steps, the order has no session and nobody can pay it; the
/// user's next checkout, or the sweep, closes it after two minutes (migration V11).
async fn card(
    state: &State,
    caller: &Caller,
    tx: Tx,
    draft: Draft,
    request_id: &str,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let user_id = draft.user_id;
    let known = orders::stripe_customer(&tx, user_id).await?;
    tx.commit().await?;
    let expires_at = now + Duration::minutes(SESSION_LIFETIME_MINUTES);
    let opened = async {
        let customer = state.stripe.customer(known.as_deref(), user_id).await?;
        let session = state.stripe.create_checkout_session(&draft, &customer, &state.urls, expires_at).await?;
        Ok::<_, ApiError>((customer, session))
    }
    .await;
    let (customer, session) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            close_failed(state, caller, draft.order_id).await;
            return Err(e);
        }
    };
    let tx = state.api.db.begin(caller).await?;
    if known.is_none() {
        orders::remember_stripe_customer(&tx, user_id, &customer).await?;
    }
    let entry = audit::Entry {
        actor_user_id: Some(user_id),
        action: "order.checkout_started",
        subject_type: "order",
        subject_id: Some(draft.order_id),
        request_id: Some(request_id),
        details: serde_json::json!({"method": "card", "total_cents": draft.total_cents}),
    };
    tokio::try_join!(
        orders::attach_checkout_session(&tx, draft.order_id, &session.id, &session.url, session.expires_at),
        async { audit::record(&tx, &entry).await.map_err(ApiError::from) },
    )?;
    tx.commit().await?;
    tracing::info!(order_id = %draft.order_id, "checkout session opened");
    http::json(
        StatusCode::CREATED,
        &CardCheckout {
            order_id: draft.order_id,
            status: "PENDING",
            checkout_url: session.url,
            expires_at: session.expires_at,
        },
    )
}

/// Closes the order whose Stripe calls failed. Best effort: if the database fails too, the
/// order stays `PENDING` without a session until the next checkout or the sweep closes it.
async fn close_failed(state: &State, caller: &Caller, order_id: Uuid) {
    let closed = async {
        let tx = state.api.db.begin(caller).await?;
        let closed = orders::fail_checkout(&tx, order_id).await?;
        tx.commit().await?;
        Ok::<_, ApiError>(closed)
    }
    .await;
    match closed {
        Ok(true) => tracing::info!(%order_id, "checkout failed at Stripe; order closed and its items freed"),
        Ok(false) => tracing::info!(%order_id, "checkout failed at Stripe; the order was already closed"),
        Err(e) => tracing::warn!(%order_id, error = %e, "checkout failed at Stripe; the order stays open until swept"),
    }
}
