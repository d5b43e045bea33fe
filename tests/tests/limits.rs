//! Rate limits (DynamoDB) and conversation size limits.

use std::time::{Duration, Instant};

use parley_e2e::*;
use shared::platform::aws::aws_sdk_dynamodb;
use shared::platform::ratelimit::{Decision, FailMode, Limit, RateLimiter};
use uuid::Uuid;

#[tokio::test]
async fn an_anonymous_caller_over_its_limit_gets_429_with_retry_after() {
    // GIVEN the default anonymous limit of 20 messages a minute
    let (_, token) = anonymous_session().await;
    let who = as_anonymous(&token);
    let conversation: Uuid =
        post_message(&who, "hello", None).await.body["message"]["conversation_id"].as_str().unwrap().parse().unwrap();
    // WHEN it keeps posting (a fixed window may roll over once mid-burst: allow two windows)
    let mut allowed = 1;
    let limited = loop {
        let reply = post_message(&who, "again", Some(conversation)).await;
        if reply.status == 429 {
            break reply;
        }
        assert_eq!(reply.status, 201, "{}", reply.body);
        allowed += 1;
        assert!(allowed <= 40, "no 429 after {allowed} messages");
    };
    // THEN it was refused after at least 20, with a 429 problem and Retry-After
    assert!(allowed >= 20, "refused after only {allowed}");
    limited.assert_problem(429);
    let retry_after: u64 = limited.header("retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
}

async fn limiter(fail: FailMode) -> RateLimiter {
    let sdk = shared::platform::aws::load().await;
    RateLimiter::new(shared::platform::aws::dynamodb(&sdk), setting("PARLEY_TABLE_NAME"), fail)
}

/// A DynamoDB client pointed at a port nothing listens on.
async fn unreachable_dynamodb() -> aws_sdk_dynamodb::Client {
    let sdk = shared::platform::aws::load().await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(format!("http://127.0.0.1:{}", closed_port()))
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

#[tokio::test]
async fn the_window_resets() {
    // GIVEN a limit of 3 per 2 seconds
    let limiter = limiter(FailMode::Closed).await;
    let limit = Limit { max: 3, window: Duration::from_secs(2) };
    let key = format!("test:{}", Uuid::now_v7());
    // WHEN a caller exhausts it
    let retry_after = loop {
        match limiter.check("limits-test", &key, limit).await.unwrap() {
            Decision::Allowed { .. } => continue,
            Decision::Limited { retry_after } => break retry_after,
            Decision::Unchecked => panic!("fail-closed limiter reported unchecked"),
        }
    };
    assert!(retry_after <= Duration::from_secs(2));
    // THEN after Retry-After it is allowed again
    tokio::time::sleep(retry_after + Duration::from_millis(100)).await;
    assert!(matches!(limiter.check("limits-test", &key, limit).await.unwrap(), Decision::Allowed { .. }));
}

#[tokio::test]
async fn concurrent_checks_never_admit_more_than_the_limit() {
    let limiter = limiter(FailMode::Closed).await;
    let limit = Limit { max: 10, window: Duration::from_secs(3600) };
    let key = format!("test:{}", Uuid::now_v7());
    let checks = (0..100).map(|_| limiter.check("limits-test", &key, limit));
    let decisions = futures::future::join_all(checks).await;
    let allowed = decisions.iter().filter(|d| matches!(d, Ok(Decision::Allowed { .. }))).count();
    assert_eq!(allowed, 10);
}

#[tokio::test]
async fn a_fail_closed_limiter_refuses_with_503_when_dynamodb_is_down() {
    let limiter = RateLimiter::new(unreachable_dynamodb().await, "parley-local-ephemeral", FailMode::Closed);
    let started = Instant::now();
    let err = limiter.check("limits-test", "test:x", Limit::per_minute(1)).await.unwrap_err();
    assert_eq!(err.status, 503);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

fn chat_request(token: &str, body: serde_json::Value) -> lambda_http::Request {
    bearer_request("POST", "/v1/chat/messages", token, Some(&body))
}

#[tokio::test]
async fn chat_message_is_wired_to_fail_open_when_dynamodb_is_down() {
    // GIVEN the real chat-message wiring (State::from_env in a gateway of its own) with
    // DynamoDB unreachable and a signed-in limit of one message a minute
    let dynamodb = format!("http://127.0.0.1:{}", closed_port());
    let gateway = Gateway::start(&[("AWS_ENDPOINT_URL_DYNAMODB", &dynamodb), ("PARLEY_CHAT_RATE_LIMIT_USER", "1/60s")]);
    let who = as_user(Uuid::now_v7());
    // WHEN a user posts twice (over the limit of one)
    for i in 0..2 {
        let reply = send(
            gateway
                .request(reqwest::Method::POST, "/v1/chat/messages", &who)
                .json(&serde_json::json!({"content": format!("still here? {i}")})),
        )
        .await;
        // THEN both are stored: a limiter outage does not take chat down
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
}

#[tokio::test]
async fn wallet_signing_is_wired_to_fail_closed_when_dynamodb_is_down() {
    // GIVEN a user with a wallet, and the real wallet-sign wiring with DynamoDB unreachable
    // (KMS still reachable: only the limiter's store is down)
    let user = Uuid::now_v7();
    let who = as_user(user);
    post_as("/v1/wallets", &who).await.assert_status(201);
    let dynamodb = format!("http://127.0.0.1:{}", closed_port());
    let gateway = Gateway::start(&[("AWS_ENDPOINT_URL_DYNAMODB", &dynamodb)]);
    // WHEN the user asks for a signature
    let reply = send(
        gateway
            .request(reqwest::Method::POST, "/v1/wallets/me/signatures", &who)
            .json(&serde_json::json!({"message": "sign me"})),
    )
    .await;
    // THEN it is refused with 503 and nothing is signed
    reply.assert_problem(503);
    assert_eq!(signings_recorded(user).await, 0);
    // AND the same request through the healthy stack signs (the 503 was the limiter's)
    let healthy = post_json_as("/v1/wallets/me/signatures", &who, &serde_json::json!({"message": "sign me"})).await;
    assert_eq!(healthy.status, 200, "{}", healthy.body);
}

#[tokio::test]
async fn a_full_conversation_refuses_more_with_409() {
    // GIVEN conversations limited to 4 messages: two messages and their replies
    let state = chat_message::State::from_source(&env_with(&[("PARLEY_CHAT_MAX_MESSAGES", "4")])).await.unwrap();
    let token = user_token(Uuid::now_v7());
    let first = chat_message::handle(&state, chat_request(&token, serde_json::json!({"content": "0"}))).await;
    let id = body_json(&first)["message"]["conversation_id"].clone();
    let second =
        chat_message::handle(&state, chat_request(&token, serde_json::json!({"content": "1", "conversation_id": id})))
            .await;
    assert_eq!(second.status(), 201);
    // WHEN a third message is sent THEN it is refused, naming the limit
    let full =
        chat_message::handle(&state, chat_request(&token, serde_json::json!({"content": "2", "conversation_id": id})))
            .await;
    assert_eq!(full.status(), 409);
    assert!(body_json(&full)["detail"].as_str().unwrap().contains("limit of 4 messages"));
}
