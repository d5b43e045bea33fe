//! A dependency outage is a clear 503 naming what failed, and writes nothing.

use lambda_http::Body;
use parley_e2e::{body_json, closed_port, env_with};

fn get_request(path: &str) -> lambda_http::Request {
    http::Request::builder().uri(path).body(Body::Empty).unwrap()
}

/// `GET /health?deep=true`, as the gateway hands it over (query parameters parsed).
fn deep_health_request() -> lambda_http::Request {
    use lambda_http::RequestExt;
    get_request("/health?deep=true")
        .with_query_string_parameters(std::collections::HashMap::from([("deep".to_owned(), "true".to_owned())]))
}

#[tokio::test]
async fn health_names_the_database_when_it_is_down() {
    // GIVEN a health function whose database is unreachable
    let url = format!("postgres://parley_app:x@127.0.0.1:{}/parley?connect_timeout=1", closed_port());
    let state = health::State::from_source(&env_with(&[("PARLEY_DATABASE_URL", &url)])).await.unwrap();
    // WHEN the deep check is called
    let resp = health::handle(&state, deep_health_request()).await;
    // THEN it answers 503 and names the database, and only the database
    assert_eq!(resp.status(), 503);
    let body = body_json(&resp);
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"], "unavailable");
    assert_eq!(body["checks"]["kms"], "ok");
    assert_eq!(body["checks"]["dynamodb"], "ok");
}

#[tokio::test]
async fn health_names_kms_and_dynamodb_when_they_fail() {
    let state = health::State::from_source(&env_with(&[
        ("PARLEY_KMS_KEY_ID", "alias/parley-does-not-exist"),
        ("PARLEY_TABLE_NAME", "parley-does-not-exist"),
    ]))
    .await
    .unwrap();
    let resp = health::handle(&state, deep_health_request()).await;
    assert_eq!(resp.status(), 503);
    let body = body_json(&resp);
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["kms"], "unavailable");
    assert_eq!(body["checks"]["dynamodb"], "unavailable");
}

#[tokio::test]
async fn the_cheap_health_check_answers_200_with_the_database_down() {
    // GIVEN a health function whose database is unreachable, and whose KMS key and table
    // do not exist
    let url = format!("postgres://parley_app:x@127.0.0.1:{}/parley?connect_timeout=1", closed_port());
    let state = health::State::from_source(&env_with(&[
        ("PARLEY_DATABASE_URL", &url),
        ("PARLEY_KMS_KEY_ID", "alias/parley-does-not-exist"),
        ("PARLEY_TABLE_NAME", "parley-does-not-exist"),
    ]))
    .await
    .unwrap();
    // WHEN the liveness check is called
    let resp = health::handle(&state, get_request("/health")).await;
    // THEN it answers 200 "ok" without checking, and so without naming, any dependency
    assert_eq!(resp.status(), 200);
    let body = body_json(&resp);
    assert_eq!(body["status"], "ok");
    assert!(body.get("checks").is_none(), "{body}");
    // AND the deep check on the same instance reports every dependency down
    let deep = health::handle(&state, deep_health_request()).await;
    assert_eq!(deep.status(), 503);
    assert_eq!(
        body_json(&deep)["checks"],
        serde_json::json!({"database": "unavailable", "kms": "unavailable", "dynamodb": "unavailable"})
    );
}

#[tokio::test]
async fn starting_a_session_with_the_database_down_is_a_503_problem() {
    let url = format!("postgres://parley_app:x@127.0.0.1:{}/parley?connect_timeout=1", closed_port());
    let state = session_anonymous::State::from_source(&env_with(&[("PARLEY_DATABASE_URL", &url)])).await.unwrap();
    let req = http::Request::builder().method("POST").uri("/v1/sessions/anonymous").body(Body::Empty).unwrap();
    let resp = session_anonymous::handle(&state, req).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert!(resp.headers().contains_key("retry-after"));
    let body = body_json(&resp);
    assert_eq!(body["type"], "urn:parley:problem:dependency-unavailable");
    assert!(body.get("token").is_none(), "no token may be issued for an unstored session");
}
