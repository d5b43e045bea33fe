//! Tone analysis: the endpoint, the chat policy, and the Claude provider against a local
//! stub of the Messages API — fallbacks, retries, the shared circuit breaker and the budget.

use std::collections::HashMap;
use std::time::Duration;

use lambda_http::Body;
use parley_e2e::anthropic_stub::{AnthropicStub, Behaviour, calm_verdict};
use parley_e2e::*;
use serde_json::{Value, json};
use shared::tone::ConflictLevel;
use uuid::Uuid;

const HOSTILE: &str = "You are a fucking idiot and I will make you regret this!!!";
const CALM: &str = "The school called about a fight today; can we talk tonight?";

#[tokio::test]
async fn the_endpoint_answers_with_the_local_analyzer_by_default() {
    let who = as_user(Uuid::now_v7());
    let hostile = post_json_as("/v1/tone/analyses", &who, &json!({"text": HOSTILE})).await;
    assert_eq!(hostile.status, 200, "{}", hostile.body);
    assert_eq!(
        (hostile.body["is_hostile"].as_bool(), hostile.body["conflict_level"].as_str()),
        (Some(true), Some("high"))
    );
    assert_eq!(hostile.body["provider"], "local");
    assert!(!hostile.body["indicators"].as_array().unwrap().is_empty());
    let span = &hostile.body["indicators"][0]["span"];
    let text: String = HOSTILE
        .chars()
        .skip(span[0].as_u64().unwrap() as usize)
        .take((span[1].as_u64().unwrap() - span[0].as_u64().unwrap()) as usize)
        .collect();
    assert_eq!(text, hostile.body["indicators"][0]["text"].as_str().unwrap());
    let rewrite = hostile.body["neutral_rewrite"].as_str().unwrap();
    assert_eq!(shared::tone::analyze(rewrite).conflict_level, ConflictLevel::Low, "{rewrite}");
    let calm = post_json_as("/v1/tone/analyses", &who, &json!({"text": CALM})).await;
    assert_eq!(calm.body["conflict_level"], "low");
    assert!(calm.body["neutral_rewrite"].is_null());
    post_json_as("/v1/tone/analyses", &who, &json!({"text": "x".repeat(4001)})).await.assert_problem(422);
    post_json_as("/v1/tone/analyses", &who, &json!({"text": "   "})).await.assert_problem(422);
}

#[tokio::test]
async fn a_hostile_chat_message_is_refused_with_its_rewrite_and_the_chain_is_untouched() {
    let who = as_user(Uuid::now_v7());
    let first = post_message(&who, "Hello, about the pickup on Friday", None).await;
    let conversation: Uuid = first.body["message"]["conversation_id"].as_str().unwrap().parse().unwrap();
    let before = get_as(&format!("/v1/chat/conversations/{conversation}/verification"), &who).await;
    // WHEN a hostile message is sent
    let refused = post_message(&who, HOSTILE, Some(conversation)).await;
    // THEN it is a 422 carrying the indicators and a neutral rewrite
    refused.assert_problem(422);
    assert_eq!(refused.body["type"], "urn:parley:problem:hostile-message");
    assert_eq!(refused.body["conflict_level"], "high");
    assert!(!refused.body["indicators"].as_array().unwrap().is_empty());
    let rewrite = refused.body["neutral_rewrite"].as_str().unwrap();
    // AND the rewrite itself is accepted
    let resent = post_message(&who, rewrite, Some(conversation)).await;
    assert_eq!(resent.status, 201, "{}", resent.body);
    // AND the refused message left no trace: the chain went from 2 to 4, not 6
    assert_eq!(before.body["checked"], 2);
    let after = get_as(&format!("/v1/chat/conversations/{conversation}/verification"), &who).await;
    assert_eq!(after.body, json!({"valid": true, "checked": 4, "first_invalid_index": null, "reason": null}));
    let history = get_as(&format!("/v1/chat/conversations/{conversation}/messages"), &who).await;
    assert!(!history.body.to_string().contains("idiot"));
}

#[tokio::test]
async fn a_tense_message_is_stored_with_a_warning_and_its_analysis() {
    // GIVEN a message docs/tone.md rates medium: blame ("you always…", weight 4) on its own
    let tense = "You always forget to call me back.";
    let who = as_user(Uuid::now_v7());
    let reply = post_message(&who, tense, None).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["tone_warning"]["conflict_level"], "medium");
    let calm = post_message(&who, CALM, None).await;
    assert!(calm.body.get("tone_warning").is_none());
    // the analysis is stored with the message
    let db = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    let id: Uuid = reply.body["message"]["id"].as_str().unwrap().parse().unwrap();
    let tone: Value =
        db.query_one("SELECT tone FROM conversation_messages WHERE id = $1", &[&id]).await.unwrap().get(0);
    assert_eq!((tone["conflict_level"].as_str(), tone["provider"].as_str()), (Some("medium"), Some("local")));
}

fn env_for(stub: &AnthropicStub, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let claude = [
        ("PARLEY_ANTHROPIC_API_KEY", "test-key-not-secret"),
        ("PARLEY_ANTHROPIC_BASE_URL", stub.url.as_str()),
        ("PARLEY_ANTHROPIC_TIMEOUT_MS", "400"),
        ("PARLEY_TONE_BREAKER_MIN_CALLS", "3"),
        ("PARLEY_TONE_BREAKER_COOLDOWN_MS", "1500"),
    ];
    env_with(&claude.into_iter().chain(extra.iter().copied()).collect::<Vec<_>>())
}

async fn analyse(state: &tone_analysis::State, text: &str) -> Value {
    let req = bearer_request("POST", "/v1/tone/analyses", &user_token(Uuid::now_v7()), Some(&json!({ "text": text })));
    let resp = tone_analysis::handle(state, req).await;
    assert_eq!(resp.status(), 200);
    match resp.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn claude_answers_when_configured_and_never_sees_personal_data() {
    let verdict = json!({"is_hostile": false, "conflict_level": "medium",
        "indicators": [{"kind": "blame", "text": "you never"}], "neutral_rewrite": "I'd like us to plan pickups together."});
    let stub = AnthropicStub::start(Behaviour::Verdict(verdict)).await;
    let state = tone_analysis::State::from_source(&env_for(&stub, &[])).await.unwrap();
    let text = "you never pick up. Call me on +44 7700 900123 or mail jane@example.com";
    let answer = analyse(&state, text).await;
    assert_eq!(answer["provider"], "claude");
    assert_eq!(answer["conflict_level"], "medium");
    assert_eq!(answer["indicators"][0]["span"], json!([0, 9]));
    let sent = stub.last_request()["messages"][0]["content"].as_str().unwrap().to_owned();
    assert!(!sent.contains("7700") && !sent.contains("jane@example.com"), "{sent}");
    assert!(sent.contains("[phone]") && sent.contains("[email]"));
}

#[tokio::test]
async fn malformed_answers_and_timeouts_fall_back_to_the_local_analyzer() {
    let stub = AnthropicStub::start(Behaviour::Text("Sure! The message seems fine.".into())).await;
    let state = tone_analysis::State::from_source(&env_for(&stub, &[])).await.unwrap();
    assert_eq!(analyse(&state, HOSTILE).await["provider"], "local");
    stub.set(Behaviour::Text(r#"{"is_hostile": "no"}"#.into()));
    assert_eq!(analyse(&state, CALM).await["provider"], "local");
    stub.set(Behaviour::Slow(Duration::from_secs(3)));
    let started = std::time::Instant::now();
    let answer = analyse(&state, HOSTILE).await;
    assert_eq!((answer["provider"].as_str(), answer["conflict_level"].as_str()), (Some("local"), Some("high")));
    assert!(started.elapsed() < Duration::from_secs(5), "bounded by timeouts: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    let stub = AnthropicStub::start(Behaviour::Verdict(calm_verdict())).await;
    stub.then([Behaviour::Status(429, Some(1))]);
    let state = tone_analysis::State::from_source(&env_for(&stub, &[])).await.unwrap();
    let started = std::time::Instant::now();
    assert_eq!(analyse(&state, CALM).await["provider"], "claude");
    assert_eq!(stub.calls(), 2);
    assert!(started.elapsed() >= Duration::from_millis(900), "retry-after honoured");
}

/// The breaker counts outcomes per fixed 60 s window (shared::platform::breaker): failures
/// that straddle a window's end are split between two windows and may open nothing. A test
/// that needs its failures counted together starts at least 15 s before a window ends.
async fn clear_of_a_window_boundary() {
    let into_window = chrono::Utc::now().timestamp_millis().rem_euclid(60_000);
    if into_window > 45_000 {
        tokio::time::sleep(Duration::from_millis((60_000 - into_window) as u64 + 100)).await;
    }
}

#[tokio::test]
async fn the_breaker_opens_on_failures_stops_calls_and_probes_after_the_cool_down() {
    // GIVEN Claude is overloaded (529 on every attempt)
    let stub = AnthropicStub::start(Behaviour::Status(529, None)).await;
    clear_of_a_window_boundary().await;
    let state = tone_analysis::State::from_source(&env_for(&stub, &[])).await.unwrap();
    // WHEN three analyses fail THEN answers keep coming, from the local analyzer
    for _ in 0..3 {
        assert_eq!(analyse(&state, CALM).await["provider"], "local");
    }
    let calls = stub.calls();
    assert!(calls >= 3);
    // AND the breaker is open: no further calls reach Claude
    for _ in 0..3 {
        assert_eq!(analyse(&state, CALM).await["provider"], "local");
    }
    assert_eq!(stub.calls(), calls, "the open breaker made calls");
    // WHEN the cool-down passes and Claude has recovered THEN one probe closes the breaker
    stub.set(Behaviour::Verdict(calm_verdict()));
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(analyse(&state, CALM).await["provider"], "claude");
    assert_eq!(analyse(&state, CALM).await["provider"], "claude");
    assert_eq!(stub.calls(), calls + 2);
}

#[tokio::test]
async fn the_breaker_is_shared_across_instances() {
    let stub = AnthropicStub::start(Behaviour::Status(529, None)).await;
    clear_of_a_window_boundary().await;
    let a = tone_analysis::State::from_source(&env_for(&stub, &[])).await.unwrap();
    let b = tone_analysis::State::from_source(&env_for(&stub, &[])).await.unwrap();
    for _ in 0..3 {
        assert_eq!(analyse(&a, CALM).await["provider"], "local", "Claude is failing, so the local analyzer answers");
    }
    let calls = stub.calls();
    assert_eq!(analyse(&b, CALM).await["provider"], "local");
    assert_eq!(stub.calls(), calls, "instance b saw the breaker instance a opened");
}

#[tokio::test]
async fn past_the_monthly_budget_the_local_analyzer_answers() {
    let stub = AnthropicStub::start(Behaviour::Verdict(calm_verdict())).await;
    // Each stub call costs 120 × $1 + 60 × $5 per million tokens = 420 micro-dollars.
    let state =
        tone_analysis::State::from_source(&env_for(&stub, &[("PARLEY_ANTHROPIC_MONTHLY_BUDGET_USD", "0.0008")]))
            .await
            .unwrap();
    assert_eq!(analyse(&state, CALM).await["provider"], "claude");
    assert_eq!(analyse(&state, CALM).await["provider"], "claude");
    assert_eq!(analyse(&state, CALM).await["provider"], "local", "840 ≥ 800 micro-dollars: over budget");
    assert_eq!(stub.calls(), 2);
}
