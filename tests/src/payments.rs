//! Helpers for the payment tests: a cart to pay for, Stripe-signed webhook deliveries, the
//! local Stripe stub, and raw reads of what the database holds.
//!
//! Signatures follow Stripe's documented scheme, written here independently of the code
//! under test (which verifies with async-stripe-webhook): `Stripe-Signature:
//! t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed by the endpoint secret>`.

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{Reply, as_user, client, post_json_as, send, setting};

/// `t=…,v1=…` for `body` signed with `secret` at `t`.
pub fn stripe_signature(body: &str, secret: &str, t: i64) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", crate::hex(&mac.finalize().into_bytes()))
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The stack's webhook signing secret.
pub fn webhook_secret() -> String {
    setting("STRIPE_WEBHOOK_SECRET")
}

/// POSTs `body` as is to the gateway's Stripe webhook, with `signature` when given.
pub async fn deliver(body: &str, signature: Option<&str>) -> Reply {
    let mut req = client()
        .post(format!("{}/webhooks/stripe", crate::base_url()))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(sig) = signature {
        req = req.header("stripe-signature", sig);
    }
    send(req).await
}

/// Delivers `body` signed now with the stack's secret.
pub async fn deliver_signed(body: &str) -> Reply {
    deliver(body, Some(&stripe_signature(body, &webhook_secret(), now()))).await
}

/// A Stripe event around `object`, as Stripe renders one.
pub fn event(id: &str, typ: &str, object: Value) -> String {
    json!({
        "id": id, "object": "event", "api_version": "2025-11-17.clover", "created": now(),
        "livemode": false, "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null},
        "type": typ, "data": {"object": object},
    })
    .to_string()
}

/// A fresh event id.
pub fn event_id() -> String {
    format!("evt_test_{}", Uuid::now_v7().simple())
}

/// A departure date about a month ahead.
pub fn in_a_month() -> String {
    crate::days_ahead(30).to_string()
}

/// A new user with one quote in the cart; returns (user, quote id, premium in cents).
pub async fn user_with_cart() -> (Uuid, String, i64) {
    let user = Uuid::now_v7();
    let who = as_user(user);
    let quote = post_json_as(
        "/v1/quotes",
        &who,
        &json!({"product_id": "PROD_DELAY_60",
                "flight": {"number": "BA117", "origin": "LHR", "destination": "JFK", "departure_date": in_a_month()}}),
    )
    .await;
    assert_eq!(quote.status, 201, "{}", quote.body);
    let quote_id = quote.body["quote_id"].as_str().unwrap().to_owned();
    let added = post_json_as("/v1/cart/items", &who, &json!({"quote_id": quote_id})).await;
    assert_eq!(added.status, 201, "{}", added.body);
    (user, quote_id, quote.body["premium_cents"].as_i64().unwrap())
}

/// POST /v1/checkout as `user`.
pub async fn checkout(user: Uuid, method: &str) -> Reply {
    post_json_as("/v1/checkout", &as_user(user), &json!({"method": method})).await
}

/// The Checkout Session id stored for `order`.
pub async fn session_of(order: &str) -> String {
    let db = superuser().await;
    let order: Uuid = order.parse().unwrap();
    let row = db.query_one("SELECT stripe_checkout_session_id FROM orders WHERE id = $1", &[&order]).await.unwrap();
    row.get(0)
}

/// The stub's Checkout Session `id`, as Stripe's API returns it.
pub async fn stub_session(id: &str) -> Value {
    let resp = client()
        .get(format!("{}/v1/checkout/sessions/{id}", setting("PARLEY_STRIPE_API_BASE")))
        .bearer_auth(setting("PARLEY_STRIPE_SECRET_KEY"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    resp.json().await.unwrap()
}

/// Pays `session` in the stub (what the buyer does on Stripe's page); returns the events
/// the stub recorded, undelivered.
pub async fn stub_pay(session: &str) -> Vec<Value> {
    let resp = client()
        .post(format!("{}/_stub/checkout/sessions/{session}/pay", setting("PARLEY_STRIPE_API_BASE")))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "the stub refused to pay {session}");
    let body: Value = resp.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

/// A superuser connection, for reading what the tables hold behind RLS.
pub async fn superuser() -> tokio_postgres::Client {
    crate::connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await
}

/// How many stored webhook events have `event_id`.
pub async fn stored_events(event_id: &str) -> i64 {
    let db = superuser().await;
    db.query_one("SELECT count(*) FROM webhook_events WHERE event_id = $1", &[&event_id]).await.unwrap().get(0)
}

/// The order's status as stored.
pub async fn order_status(order: &str) -> String {
    let db = superuser().await;
    let order: Uuid = order.parse().unwrap();
    db.query_one("SELECT status FROM orders WHERE id = $1", &[&order]).await.unwrap().get(0)
}
