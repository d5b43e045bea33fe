//! The log canary: requests through the stack's gateway that carry [`LOG_CANARY`] in every
//! place a careless log line could copy it from — headers (a custom one, `User-Agent`,
//! `Idempotency-Key`, `x-anonymous-session`), query strings, paths and bodies — on success
//! and refusal paths. `log_audit.rs` (run by scripts/test.sh after every other test) checks
//! that each of these requests was logged with its request id and that the canary appears
//! in no log line.

use std::io::Write;

use parley_e2e::promises::{LOG_CANARY, log_canary_requests_file};
use parley_e2e::*;
use serde_json::json;
use uuid::Uuid;

/// Sends `req` with the canary in a header of its own and in `User-Agent`, and records the
/// request id the gateway answered with.
async fn canary(req: reqwest::RequestBuilder, ids: &mut Vec<String>) -> Reply {
    let reply = send(req.header("x-parley-canary", LOG_CANARY).header("user-agent", LOG_CANARY)).await;
    let id = reply.header("x-request-id").to_owned();
    assert!(!id.is_empty(), "no x-request-id: {reply:?}");
    ids.push(id);
    reply
}

#[tokio::test]
async fn requests_carrying_the_log_canary_everywhere_are_answered() {
    let mut ids = Vec::new();
    let user = Uuid::now_v7();
    let auth = header_map(&as_user(user));
    let url = |path: &str| format!("{}{path}", base_url());
    let text = format!("Hello {LOG_CANARY}, BA117 tomorrow please");
    // A message stored, with the canary in its body and its query string
    let stored = canary(
        client()
            .post(url(&format!("/v1/chat/messages?note={LOG_CANARY}")))
            .headers(auth.clone())
            .json(&json!({"content": text})),
        &mut ids,
    )
    .await;
    assert_eq!(stored.status, 201, "{}", stored.body);
    let conversation = stored.body["message"]["conversation_id"].as_str().unwrap().to_owned();
    // A message refused for its tone, and a tone analysis
    let hostile = format!("You never listen, you idiot!!! {LOG_CANARY}");
    let refused = canary(
        client().post(url("/v1/chat/messages")).headers(auth.clone()).json(&json!({"content": hostile})),
        &mut ids,
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let analysed =
        canary(client().post(url("/v1/tone/analyses")).headers(auth.clone()).json(&json!({"text": hostile})), &mut ids)
            .await;
    assert_eq!(analysed.status, 200, "{}", analysed.body);
    // History with the canary as a (bad) cursor
    let history = canary(
        client()
            .get(url(&format!("/v1/chat/conversations/{conversation}/messages?limit=5&cursor={LOG_CANARY}")))
            .headers(auth.clone()),
        &mut ids,
    )
    .await;
    assert!(history.status == 200 || history.status == 422, "{}", history.body);
    // The canary as an Idempotency-Key, and as a body field that does not exist
    let keyed = canary(
        client()
            .post(url("/v1/cart/items"))
            .headers(auth.clone())
            .header("idempotency-key", LOG_CANARY)
            .json(&json!({"quote_id": Uuid::now_v7()})),
        &mut ids,
    )
    .await;
    assert_eq!(keyed.status, 404, "{}", keyed.body);
    let unknown_field = canary(
        client()
            .post(url("/v1/cart/items"))
            .headers(auth.clone())
            .json(&json!({"quote_id": Uuid::now_v7(), LOG_CANARY: 1})),
        &mut ids,
    )
    .await;
    assert_eq!(unknown_field.status, 422, "{}", unknown_field.body);
    // A signature of the canary
    let wallet = canary(client().post(url("/v1/wallets")).headers(auth.clone()), &mut ids).await;
    assert_eq!(wallet.status, 201, "{}", wallet.body);
    let signed = canary(
        client().post(url("/v1/wallets/me/signatures")).headers(auth.clone()).json(&json!({"message": LOG_CANARY})),
        &mut ids,
    )
    .await;
    assert_eq!(signed.status, 200, "{}", signed.body);
    // The canary as an anonymous token, as a bearer token, and in a path no route has
    let bad_anon =
        canary(client().get(url("/v1/sessions/me")).header("x-anonymous-session", LOG_CANARY), &mut ids).await;
    assert_eq!(bad_anon.status, 401, "{}", bad_anon.body);
    let bad_bearer =
        canary(client().get(url("/v1/sessions/me")).header("authorization", format!("Bearer {LOG_CANARY}")), &mut ids)
            .await;
    assert_eq!(bad_bearer.status, 401, "{}", bad_bearer.body);
    let no_route = canary(client().get(url(&format!("/v1/{LOG_CANARY}"))), &mut ids).await;
    assert_eq!(no_route.status, 404, "{}", no_route.body);

    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_canary_requests_file())
        .expect("the canary's request list is writable");
    for id in ids {
        writeln!(file, "{id}").unwrap();
    }
}
