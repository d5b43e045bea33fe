//! The walking skeleton over real HTTP: health, anonymous sessions, user tokens, and the
//! 401/404 problem documents.

use std::time::Duration;

use parley_e2e::*;
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn deep_health_reports_every_dependency_ok() {
    // WHEN the deep health check is called on a running stack
    let reply = get("/health?deep=true", &[]).await;
    // THEN database, kms and dynamodb are all reachable
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["status"], "ok");
    assert_eq!(reply.body["version"], shared::VERSION);
    assert_eq!(reply.body["checks"], json!({"database": "ok", "kms": "ok", "dynamodb": "ok"}));
    assert!(!reply.header("x-request-id").is_empty());
}

#[tokio::test]
async fn health_without_deep_is_liveness_only() {
    // WHEN health is called plainly, or with deep=false
    for path in ["/health", "/health?deep=false"] {
        let reply = get(path, &[]).await;
        // THEN it is alive, and checks nothing
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        assert_eq!(reply.body, json!({"status": "ok", "version": shared::VERSION, "function": "health"}));
    }
    // AND a deep that is not a boolean is a 400 problem
    get("/health?deep=yes", &[]).await.assert_problem(400);
}

#[tokio::test]
async fn an_anonymous_session_token_identifies_its_session() {
    // GIVEN a new anonymous session
    let reply = send(client().post(format!("{}/v1/sessions/anonymous", base_url()))).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let session_id = reply.body["session_id"].as_str().unwrap();
    let token = reply.body["token"].as_str().unwrap();
    let expires_at: chrono::DateTime<chrono::Utc> = reply.body["expires_at"].as_str().unwrap().parse().unwrap();
    let ttl = expires_at - chrono::Utc::now();
    assert!(ttl > chrono::Duration::hours(23) && ttl <= chrono::Duration::hours(24), "ttl {ttl}");
    // WHEN it asks who it is
    let me = get("/v1/sessions/me", &[("x-anonymous-session", token)]).await;
    // THEN it is that anonymous session
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body, json!({"kind": "anonymous", "id": session_id}));
}

#[tokio::test]
async fn the_anonymous_session_is_stored_and_visible_only_to_itself() {
    // GIVEN a session created over HTTP
    let (session_id, _) = anonymous_session().await;
    let (other_session, _) = anonymous_session().await;
    let db = connect(&setting("DATABASE_URL")).await;
    // WHEN the API role reads the table with no WHERE, under different contexts
    let count = |ctx: Option<Uuid>| {
        let db = &db;
        async move {
            let tx_sql = format!(
                "BEGIN; SELECT set_config('app.anonymous_session_id', '{}', true);",
                ctx.map(|c| c.to_string()).unwrap_or_default()
            );
            db.batch_execute(&tx_sql).await.unwrap();
            let rows = db.query("SELECT id FROM anonymous_sessions", &[]).await.unwrap();
            db.batch_execute("COMMIT").await.unwrap();
            rows.iter().map(|r| r.get::<_, Uuid>(0)).collect::<Vec<_>>()
        }
    };
    // THEN its own context sees exactly its row, another's sees only that one, none sees nothing
    assert_eq!(count(Some(session_id)).await, vec![session_id]);
    assert_eq!(count(Some(other_session)).await, vec![other_session]);
    assert!(count(None).await.is_empty());
}

#[tokio::test]
async fn the_api_role_cannot_insert_a_session_for_someone_else() {
    let db = connect(&setting("DATABASE_URL")).await;
    let mine = Uuid::now_v7();
    db.batch_execute(&format!("BEGIN; SELECT set_config('app.anonymous_session_id', '{mine}', true)")).await.unwrap();
    let err = db
        .execute(
            "INSERT INTO anonymous_sessions (id, expires_at) VALUES ($1, now() + interval '1 hour')",
            &[&Uuid::now_v7()],
        )
        .await
        .unwrap_err();
    db.batch_execute("ROLLBACK").await.unwrap();
    let message = err.as_db_error().map(|e| e.message().to_owned()).unwrap_or_else(|| err.to_string());
    assert!(message.contains("row-level security"), "{message}");
}

#[tokio::test]
async fn a_user_token_minted_from_the_stack_settings_is_accepted() {
    let user = Uuid::now_v7();
    let token = user_token(user);
    let me = get("/v1/sessions/me", &[("authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body, json!({"kind": "user", "id": user.to_string()}));
}

#[tokio::test]
async fn the_user_wins_when_both_credentials_are_sent() {
    let user = Uuid::now_v7();
    let (_, anon) = anonymous_session().await;
    let me = get(
        "/v1/sessions/me",
        &[("authorization", &format!("Bearer {}", user_token(user))), ("x-anonymous-session", &anon)],
    )
    .await;
    assert_eq!(me.body["kind"], "user");
}

#[tokio::test]
async fn bad_credentials_are_401_problems() {
    let user = Uuid::now_v7();
    let good = user_token(user);
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged_payload = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        json!({"sub": Uuid::now_v7(), "iss": setting("PARLEY_JWT_ISSUER"), "aud": setting("PARLEY_JWT_AUDIENCE"), "exp": 4102444800i64}).to_string(),
    );
    parts[1] = &forged_payload;
    let tampered = parts.join(".");
    let wrong_key = shared::platform::identity::mint_user_token(
        b"a-different-secret-that-is-long-enough-000",
        &setting("PARLEY_JWT_ISSUER"),
        &setting("PARLEY_JWT_AUDIENCE"),
        user,
        Duration::from_secs(600),
    );
    // Expired an hour ago: well past the 30 s clock-skew leeway.
    let expired = {
        let claims = json!({"sub": user, "iss": setting("PARLEY_JWT_ISSUER"), "aud": setting("PARLEY_JWT_AUDIENCE"), "exp": chrono::Utc::now().timestamp() - 3600});
        sign_hs256(&claims, setting("PARLEY_JWT_SECRET").as_bytes())
    };
    for (name, headers) in [
        ("no credentials", vec![]),
        ("tampered", vec![("authorization", format!("Bearer {tampered}"))]),
        ("expired", vec![("authorization", format!("Bearer {expired}"))]),
        ("wrongly signed", vec![("authorization", format!("Bearer {wrong_key}"))]),
        ("not a bearer", vec![("authorization", "Basic Zm9vOmJhcg==".to_owned())]),
        ("garbage anonymous token", vec![("x-anonymous-session", "not-a-token".to_owned())]),
        ("user token as anonymous token", vec![("x-anonymous-session", good.clone())]),
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = get("/v1/sessions/me", &headers).await;
        assert_eq!(reply.status, 401, "{name}: {}", reply.body);
        reply.assert_problem(401);
    }
}

/// HS256 over arbitrary claims, computed here from the JWS definition (RFC 7515) with the
/// `hmac` crate — independent of the JWT library under test.
fn sign_hs256(claims: &serde_json::Value, key: &[u8]) -> String {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let signing_input = format!("{}.{}", b64(br#"{"alg":"HS256","typ":"JWT"}"#), b64(claims.to_string().as_bytes()));
    format!("{signing_input}.{}", b64(&hmac_sha256(key, signing_input.as_bytes())))
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let reply = get("/v1/does-not-exist", &[]).await;
    reply.assert_problem(404);
    let wrong_method = send(client().delete(format!("{}/health", base_url()))).await;
    // (issue 13: a path that exists under another method is a 405 with Allow)
    wrong_method.assert_problem(405);
}

#[tokio::test]
async fn the_gateway_serves_the_openapi_document() {
    let resp = client().get(format!("{}/openapi.yaml", base_url())).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.starts_with("openapi: 3.1"), "{}", &text[..40.min(text.len())]);
}
