//! The signed-in chat limit as deployed: README.md says 60 messages a minute by default. The
//! test stack raises it (scripts/test.sh), so this builds chat-message from the stack's
//! settings *without* `PARLEY_CHAT_RATE_LIMIT_USER` and calls it with real API Gateway events.

use std::time::Duration;

use parley_e2e::promises::{apigw_request, parts};
use parley_e2e::*;
use serde_json::{Value, json};
use uuid::Uuid;

const DEFAULT_USER_LIMIT: usize = 60;

#[tokio::test]
async fn a_signed_in_user_gets_429_with_retry_after_on_the_61st_message_in_a_minute() {
    // GIVEN chat-message with the default user limit
    let mut env = env_with(&[]);
    env.remove("PARLEY_CHAT_RATE_LIMIT_USER");
    let state = chat_message::State::from_source(&env).await.unwrap();
    let who = as_user(Uuid::now_v7());
    // (windows are whole minutes: start early in one, so the burst fits in it)
    let second = chrono::Utc::now().timestamp() % 60;
    if second > 45 {
        tokio::time::sleep(Duration::from_secs((61 - second) as u64)).await;
    }
    let minute = || chrono::Utc::now().timestamp() / 60;
    let started_in = minute();
    // WHEN the user keeps posting to one conversation
    let mut conversation: Option<Value> = None;
    let mut allowed = 0;
    let (problem, retry_after) = loop {
        let mut body = json!({"content": format!("message {allowed}")});
        if let Some(id) = &conversation {
            body["conversation_id"] = id.clone();
        }
        let req = apigw_request("POST", "/v1/chat/messages", "POST /v1/chat/messages", &who, Some(&body.to_string()));
        let resp = chat_message::handle(&state, req).await;
        let retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        let (status, text) = parts(&resp);
        let body: Value = serde_json::from_str(&text).unwrap();
        if status == 429 {
            break (body, retry_after);
        }
        assert_eq!(status, 201, "{body}");
        conversation.get_or_insert(body["message"]["conversation_id"].clone());
        allowed += 1;
        assert!(allowed <= 2 * DEFAULT_USER_LIMIT, "no 429 after {allowed} messages");
    };
    // THEN the 61st is refused (60 if the burst stayed in one minute, as it almost always does)
    if minute() == started_in {
        assert_eq!(allowed, DEFAULT_USER_LIMIT);
    } else {
        assert!((DEFAULT_USER_LIMIT..=2 * DEFAULT_USER_LIMIT).contains(&allowed), "{allowed}");
    }
    // AND the refusal is a 429 problem with Retry-After within the minute
    assert_eq!(
        (problem["status"].as_u64(), problem["type"].as_str()),
        (Some(429), Some("urn:parley:problem:rate-limited"))
    );
    let retry_after: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
}
