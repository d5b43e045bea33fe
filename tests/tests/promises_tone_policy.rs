//! The chat tone policy settings (`PARLEY_TONE_WARN_AT`, `PARLEY_TONE_REFUSE_AT`: `low`,
//! `medium`, `high`, `never`) and the tone-analysis limit (`PARLEY_TONE_RATE_LIMIT`), through
//! each function's real `State::from_source`.
//!
//! The messages are pinned: each is a text whose level docs/tone.md states.

use std::collections::HashMap;

use parley_e2e::promises::{apigw_request, parts};
use parley_e2e::*;
use serde_json::{Value, json};
use shared::tone::ConflictLevel;
use uuid::Uuid;

/// docs/tone.md: an insult aimed at a thing "stays **Low** ("the stupid printer jammed again")".
const LOW: &str = "the stupid printer jammed again";
/// docs/tone.md: aimed at the reader's things, "("your stupid rules" = 4, Medium)".
const MEDIUM: &str = "your stupid rules";
/// docs/tone.md: "the real result for `You never listen, you idiot!!!`" is high (15).
const HIGH: &str = "You never listen, you idiot!!!";

#[test]
fn the_pinned_messages_have_the_levels_docs_tone_md_states() {
    for (text, level) in [(LOW, ConflictLevel::Low), (MEDIUM, ConflictLevel::Medium), (HIGH, ConflictLevel::High)] {
        assert_eq!(shared::tone::analyze(text).conflict_level, level, "docs/tone.md is wrong about {text:?}");
    }
}

/// The stack's settings with the tone policy replaced (absent = the default).
fn policy(warn_at: Option<&str>, refuse_at: Option<&str>) -> HashMap<String, String> {
    let mut env = env_with(&[]);
    for (name, value) in [("PARLEY_TONE_WARN_AT", warn_at), ("PARLEY_TONE_REFUSE_AT", refuse_at)] {
        match value {
            Some(v) => env.insert(name.to_owned(), v.to_owned()),
            None => env.remove(name),
        };
    }
    env
}

/// Posts `content` as a new user in a new conversation; (status, body, user).
async fn post(state: &chat_message::State, content: &str) -> (u16, Value, Uuid) {
    let user = Uuid::now_v7();
    let body = json!({ "content": content }).to_string();
    let req = apigw_request("POST", "/v1/chat/messages", "POST /v1/chat/messages", &as_user(user), Some(&body));
    let (status, text) = parts(&chat_message::handle(state, req).await);
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)), user)
}

async fn messages_stored_by(user: Uuid) -> i64 {
    let db = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    db.query_one(
        "SELECT count(*) FROM conversation_messages m JOIN conversations c ON c.id = m.conversation_id \
         WHERE c.owner_user_id = $1",
        &[&user],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test]
async fn by_default_low_is_stored_medium_is_warned_and_high_is_refused() {
    let state = chat_message::State::from_source(&policy(None, None)).await.unwrap();
    let (status, body, _) = post(&state, LOW).await;
    assert_eq!(status, 201, "{body}");
    assert!(body.get("tone_warning").is_none(), "{body}");
    let (status, body, _) = post(&state, MEDIUM).await;
    assert_eq!((status, &body["tone_warning"]["conflict_level"]), (201, &json!("medium")), "{body}");
    let (status, body, user) = post(&state, HIGH).await;
    assert_eq!((status, &body["type"]), (422, &json!("urn:parley:problem:hostile-message")), "{body}");
    assert_eq!(messages_stored_by(user).await, 0);
}

#[tokio::test]
async fn warn_at_low_warns_about_a_low_message_and_stores_it() {
    // GIVEN PARLEY_TONE_WARN_AT=low
    let state = chat_message::State::from_source(&policy(Some("low"), None)).await.unwrap();
    // WHEN a low message is posted THEN it is stored with a warning saying low
    let (status, body, user) = post(&state, LOW).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["tone_warning"]["conflict_level"], "low", "{body}");
    assert_eq!(messages_stored_by(user).await, 2, "the message and its reply");
}

#[tokio::test]
async fn refuse_at_medium_refuses_a_medium_message_and_stores_nothing() {
    // GIVEN PARLEY_TONE_REFUSE_AT=medium
    let state = chat_message::State::from_source(&policy(None, Some("medium"))).await.unwrap();
    // WHEN a medium message is posted THEN it is refused with 422 and its rewrite, nothing stored
    let (status, body, user) = post(&state, MEDIUM).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["type"], "urn:parley:problem:hostile-message");
    assert_eq!(body["conflict_level"], "medium");
    assert!(body["neutral_rewrite"].is_string(), "{body}");
    assert_eq!(messages_stored_by(user).await, 0);
    // AND a low message still goes through, without a warning
    let (status, body, _) = post(&state, LOW).await;
    assert_eq!(status, 201, "{body}");
    assert!(body.get("tone_warning").is_none(), "{body}");
}

#[tokio::test]
async fn refuse_at_never_stores_a_high_message_with_a_warning() {
    // GIVEN PARLEY_TONE_REFUSE_AT=never (warnings at the default, medium)
    let state = chat_message::State::from_source(&policy(None, Some("never"))).await.unwrap();
    // WHEN a high message is posted THEN it is stored, with a warning saying high
    let (status, body, user) = post(&state, HIGH).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["tone_warning"]["conflict_level"], "high", "{body}");
    assert_eq!(messages_stored_by(user).await, 2);
}

#[tokio::test]
async fn warn_at_never_and_refuse_at_never_store_a_high_message_without_a_warning() {
    let state = chat_message::State::from_source(&policy(Some("never"), Some("never"))).await.unwrap();
    let (status, body, user) = post(&state, HIGH).await;
    assert_eq!(status, 201, "{body}");
    assert!(body.get("tone_warning").is_none(), "{body}");
    assert_eq!(messages_stored_by(user).await, 2);
}

#[tokio::test]
async fn a_policy_level_that_does_not_exist_refuses_the_start_naming_the_setting() {
    for name in ["PARLEY_TONE_WARN_AT", "PARLEY_TONE_REFUSE_AT"] {
        let err = chat_message::State::from_source(&env_with(&[(name, "sometimes")])).await.err();
        let err = err.unwrap_or_else(|| panic!("{name}=sometimes was accepted"));
        assert_eq!(err.to_string(), format!("{name} must be low, medium, high or never"));
    }
}

/// POSTs analyses as one user until refused; returns (allowed, the refusal, whether a window
/// boundary passed during the burst).
async fn analyse_until_limited(
    state: &tone_analysis::State,
    window_secs: u64,
    max: usize,
) -> (usize, Value, String, bool) {
    let who = as_user(Uuid::now_v7());
    let window = || chrono::Utc::now().timestamp() as u64 / window_secs;
    let started_in = window();
    let mut allowed = 0;
    loop {
        let body = json!({"text": LOW}).to_string();
        let req = apigw_request("POST", "/v1/tone/analyses", "POST /v1/tone/analyses", &who, Some(&body));
        let resp = tone_analysis::handle(state, req).await;
        let retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let (status, text) = parts(&resp);
        if status == 429 {
            return (allowed, serde_json::from_str(&text).unwrap(), retry_after, window() != started_in);
        }
        assert_eq!(status, 200, "{text}");
        allowed += 1;
        assert!(allowed <= 2 * max, "no 429 after {allowed} analyses");
    }
}

#[tokio::test]
async fn the_tone_limit_is_the_configured_one() {
    // GIVEN tone-analysis with PARLEY_TONE_RATE_LIMIT=3/3600s
    let state = tone_analysis::State::from_source(&env_with(&[("PARLEY_TONE_RATE_LIMIT", "3/3600s")])).await.unwrap();
    // WHEN one caller keeps asking THEN the fourth is refused with 429 and Retry-After
    let (allowed, problem, retry_after, rolled_over) = analyse_until_limited(&state, 3600, 3).await;
    if rolled_over {
        assert!((3..=6).contains(&allowed), "{allowed}");
    } else {
        assert_eq!(allowed, 3);
    }
    assert_eq!(problem["status"], 429);
    let retry_after: u64 = retry_after.parse().expect("Retry-After is seconds");
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn the_tone_limit_defaults_to_100_a_minute() {
    let mut env = env_with(&[]);
    env.remove("PARLEY_TONE_RATE_LIMIT");
    let state = tone_analysis::State::from_source(&env).await.unwrap();
    let (allowed, problem, _, rolled_over) = analyse_until_limited(&state, 60, 100).await;
    if rolled_over {
        assert!((100..=200).contains(&allowed), "{allowed}");
    } else {
        assert_eq!(allowed, 100);
    }
    assert_eq!(problem["status"], 429);
}
