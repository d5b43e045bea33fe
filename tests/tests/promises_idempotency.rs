//! `Idempotency-Key` as README.md promises it (shared/src/platform/idempotency.rs), through
//! the functions that honour it: a failed request (5xx) releases the key, DynamoDB down fails
//! closed with 503, and a completed response is replayed for 24 hours — and not after.

use std::collections::HashMap;

use parley_e2e::promises::{OwnGateway, apigw_request, parts};
use parley_e2e::*;
use serde_json::json;
use sha2::{Digest, Sha256};
use shared::platform::aws::aws_sdk_dynamodb::{self, types::AttributeValue};
use uuid::Uuid;

async fn dynamodb() -> aws_sdk_dynamodb::Client {
    shared::platform::aws::dynamodb(&shared::platform::aws::load().await)
}

/// The record's key, as the idempotency layer derives it (route, caller, SHA-256 of the key).
fn record_key(route: &str, user: Uuid, key: &str) -> String {
    format!("idem#{route}#user:{user}#{}", hex(&Sha256::digest(key.as_bytes())))
}

async fn record(pk: &str) -> Option<HashMap<String, AttributeValue>> {
    dynamodb()
        .await
        .get_item()
        .table_name(setting("PARLEY_TABLE_NAME"))
        .key("pk", AttributeValue::S(pk.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .expect("moto answers")
        .item
}

async fn set_expiry(pk: &str, expires_at: i64) {
    dynamodb()
        .await
        .update_item()
        .table_name(setting("PARLEY_TABLE_NAME"))
        .key("pk", AttributeValue::S(pk.to_owned()))
        .update_expression("SET expires_at = :e")
        .expression_attribute_values(":e", AttributeValue::N(expires_at.to_string()))
        .send()
        .await
        .expect("moto answers");
}

fn create_wallet_request(user: Uuid, key: &str) -> lambda_http::Request {
    let mut headers = as_user(user);
    headers.push(("idempotency-key".into(), key.to_owned()));
    apigw_request("POST", "/v1/wallets", "POST /v1/wallets", &headers, None)
}

/// POST /v1/wallets through the gateway; (status, replayed header, raw body).
async fn create_wallet_over_http(user: Uuid, key: &str) -> (u16, Option<String>, Vec<u8>) {
    let resp = client()
        .post(format!("{}/v1/wallets", base_url()))
        .headers(header_map(&as_user(user)))
        .header("idempotency-key", key)
        .send()
        .await
        .expect("the gateway answers");
    let status = resp.status().as_u16();
    let replayed = resp.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap().to_owned());
    (status, replayed, resp.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn a_failed_request_releases_its_key_and_the_retry_runs_again() {
    // GIVEN wallet-create pointed at a KMS key that does not exist: creating a wallet fails (5xx)
    let broken = wallet_create::State::from_source(&env_with(&[("PARLEY_KMS_KEY_ID", "alias/parley-does-not-exist")]))
        .await
        .unwrap();
    let user = Uuid::now_v7();
    let key = Uuid::now_v7().to_string();
    // WHEN a request with an Idempotency-Key fails
    let (status, body) = parts(&wallet_create::handle(&broken, create_wallet_request(user, &key)).await);
    assert_eq!(status, 503, "{body}");
    // THEN its key is released: no record is left to replay or to block the retry
    assert_eq!(record(&record_key("wallet-create", user, &key)).await, None);
    // AND the retry with the same key, once KMS works, runs again and creates the wallet
    let working = wallet_create::State::from_source(&env_with(&[])).await.unwrap();
    let retried = wallet_create::handle(&working, create_wallet_request(user, &key)).await;
    let replayed = retried.headers().get("idempotent-replayed").cloned();
    let (status, body) = parts(&retried);
    assert_eq!((status, replayed), (201, None), "{body}");
    assert_eq!(body_json(&retried)["balance"]["amount"], 1_000_000);
}

#[tokio::test]
async fn with_dynamodb_unreachable_a_keyed_write_fails_closed_with_503_and_does_nothing() {
    // GIVEN a quote in a user's cart-to-be, and a gateway whose AWS endpoint (DynamoDB) is a
    // closed port while its database works
    let user = Uuid::now_v7();
    let who = as_user(user);
    let departure = (chrono::Utc::now().date_naive() + chrono::Days::new(30)).to_string();
    let quote = post_json_as(
        "/v1/quotes",
        &who,
        &json!({"product_id": "PROD_DELAY_60",
                "flight": {"number": "BA117", "origin": "LHR", "destination": "JFK", "departure_date": departure}}),
    )
    .await;
    assert_eq!(quote.status, 201, "{}", quote.body);
    let body = json!({"quote_id": quote.body["quote_id"]});
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let gateway = OwnGateway::start(&[("AWS_ENDPOINT_URL", &dead)]).await;
    // WHEN the quote is added to the cart with an Idempotency-Key
    let refused = send(
        client()
            .post(format!("{}/v1/cart/items", gateway.url))
            .headers(header_map(&who))
            .header("idempotency-key", Uuid::now_v7().to_string())
            .json(&body),
    )
    .await;
    // THEN it fails closed: 503 naming the idempotency store, and nothing is added
    refused.assert_problem(503);
    assert!(refused.body["detail"].as_str().unwrap().contains("idempotency store"), "{}", refused.body);
    assert_eq!(get_as("/v1/cart", &who).await.body["items"], json!([]));
    // AND without a key the same gateway adds it (the 503 came from the idempotency layer)
    let unkeyed =
        send(client().post(format!("{}/v1/cart/items", gateway.url)).headers(header_map(&who)).json(&body)).await;
    assert_eq!(unkeyed.status, 201, "{}", unkeyed.body);
}

#[tokio::test]
async fn a_completed_response_is_replayed_23_hours_later_but_not_after_24() {
    // GIVEN a wallet created with an Idempotency-Key
    let user = Uuid::now_v7();
    let key = Uuid::now_v7().to_string();
    let (status, replayed, first) = create_wallet_over_http(user, &key).await;
    assert_eq!((status, replayed), (201, None), "{}", String::from_utf8_lossy(&first));
    // THEN its record is kept for 24 hours
    let pk = record_key("wallet-create", user, &key);
    let item = record(&pk).await.expect("a completed record");
    assert_eq!(item["status"], AttributeValue::S("COMPLETED".into()));
    let expires_at: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!((expires_at - (now + 24 * 3600)).abs() <= 120, "expires {} s from now", expires_at - now);
    // WHEN 23 hours have passed (one hour of the 24 left)
    set_expiry(&pk, now + 3600).await;
    // THEN the same key still replays the first response, byte for byte
    let (status, replayed, again) = create_wallet_over_http(user, &key).await;
    assert_eq!((status, replayed.as_deref()), (201, Some("true")));
    assert_eq!(again, first, "the replay differs from the first response");
    // WHEN 24 hours and a second have passed
    set_expiry(&pk, now - 1).await;
    // THEN the key is spent: the request runs again (200: the wallet already exists)
    let (status, replayed, later) = create_wallet_over_http(user, &key).await;
    assert_eq!((status, replayed), (200, None), "{}", String::from_utf8_lossy(&later));
    let (first, later): (serde_json::Value, serde_json::Value) =
        (serde_json::from_slice(&first).unwrap(), serde_json::from_slice(&later).unwrap());
    assert_eq!(later["id"], first["id"]);
}
