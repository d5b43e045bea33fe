//! Issue 13, the smaller findings: an Idempotency-Key left in progress by a crashed
//! invocation, and replayed headers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_http::{Body, RequestExt};
use parley_e2e::*;
use shared::platform::idempotency::IdempotencyStore;
use uuid::Uuid;

async fn store() -> IdempotencyStore {
    let aws = shared::platform::aws::load().await;
    IdempotencyStore::new(shared::platform::aws::dynamodb(&aws), setting("PARLEY_TABLE_NAME"))
}

/// A request with `key`, inside an invocation that has `left` before Lambda kills it.
fn request(key: &str, left: Duration) -> lambda_http::Request {
    let mut ctx = lambda_runtime::Context::default();
    ctx.deadline = (SystemTime::now() + left).duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    http::Request::builder()
        .method("POST")
        .header("idempotency-key", key)
        .body(Body::Text("{}".into()))
        .unwrap()
        .with_lambda_context(ctx)
}

fn created() -> shared::platform::http::Response {
    http::Response::builder()
        .status(201)
        .header("content-type", "application/json")
        .header("location", "/v1/things/1")
        .body(Body::Text("{}".into()))
        .unwrap()
}

#[tokio::test]
async fn a_key_left_in_progress_by_a_crashed_invocation_frees_when_that_invocation_would_be_dead() {
    let store = store().await;
    let (route, caller, key) = ("test-route", format!("user:{}", Uuid::now_v7()), Uuid::now_v7().to_string());
    // GIVEN an invocation with 300 ms left that dies mid-handler (its future is dropped)
    let crashed = tokio::time::timeout(
        Duration::from_millis(300),
        store.run(route, &caller, &request(&key, Duration::from_millis(300)), || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(created())
        }),
    )
    .await;
    assert!(crashed.is_err(), "the first invocation was cut off");
    // WHEN the client retries once that invocation's deadline (and a second's margin) passed
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let retry = store.run(route, &caller, &request(&key, Duration::from_secs(10)), || async { Ok(created()) }).await;
    // THEN the retry runs, instead of waiting out a fixed 30 s
    assert_eq!(retry.expect("the retry runs").status(), 201);
}

#[tokio::test]
async fn a_replay_carries_the_original_headers() {
    let store = store().await;
    let (route, caller, key) = ("test-route", format!("user:{}", Uuid::now_v7()), Uuid::now_v7().to_string());
    let first = store.run(route, &caller, &request(&key, Duration::from_secs(10)), || async { Ok(created()) }).await;
    assert_eq!(first.unwrap().status(), 201);
    let again = store
        .run(route, &caller, &request(&key, Duration::from_secs(10)), || async { panic!("must not run twice") })
        .await
        .unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"], "/v1/things/1");
}
