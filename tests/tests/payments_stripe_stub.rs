//! The local Stripe speaks Stripe's wire format: form bodies in, Stripe-shaped objects and
//! error objects out, idempotency keys replayed — so the SDK under test meets what it
//! would meet in production.

use parley_e2e::*;
use serde_json::Value;

fn stub(path: &str) -> String {
    format!("{}{path}", setting("PARLEY_STRIPE_API_BASE"))
}

async fn post_form(path: &str, key: Option<&str>, form: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = client()
        .post(stub(path))
        .bearer_auth(setting("PARLEY_STRIPE_SECRET_KEY"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned());
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, headers, resp.json().await.unwrap())
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_other_parameters() {
    let key = format!("test-{}", uuid::Uuid::now_v7());
    // WHEN the same create is sent twice with one key
    let (s1, _, first) = post_form("/v1/customers", Some(&key), "metadata%5Buser_id%5D=u1").await;
    let (s2, headers, second) = post_form("/v1/customers", Some(&key), "metadata%5Buser_id%5D=u1").await;
    // THEN one customer, replayed
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(first["id"], second["id"]);
    assert_eq!(first["metadata"]["user_id"], "u1");
    assert_eq!(headers["idempotent-replayed"], "true");
    // WHEN the key is reused with other parameters THEN Stripe's idempotency error
    let (s3, _, err) = post_form("/v1/customers", Some(&key), "metadata%5Buser_id%5D=u2").await;
    assert_eq!(s3, 400);
    assert_eq!(err["error"]["type"], "idempotency_error");
}

#[tokio::test]
async fn errors_are_stripe_error_objects() {
    // An unknown session
    let resp = client()
        .get(stub("/v1/checkout/sessions/cs_test_nope"))
        .bearer_auth(setting("PARLEY_STRIPE_SECRET_KEY"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "resource_missing");
    // No API key
    let resp = client().post(stub("/v1/customers")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    // A session without line items
    let (status, _, body) = post_form("/v1/checkout/sessions", None, "mode=payment").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "line_items");
}
