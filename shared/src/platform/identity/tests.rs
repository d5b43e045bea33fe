//! Identity as specifications: which credentials identify whom, and which are refused.

use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use super::*;
use std::collections::HashMap;

const JWT_SECRET: &str = "test-user-jwt-secret-0123456789abcdef";
const ANON_SECRET: &str = "test-anonymous-secret-0123456789abcdef";

fn env(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut m: HashMap<String, String> = [
        ("PARLEY_JWT_ISSUER", "https://issuer.test"),
        ("PARLEY_JWT_AUDIENCE", "parley-api"),
        ("PARLEY_JWT_SECRET", JWT_SECRET),
        ("PARLEY_ANON_TOKEN_SECRET", ANON_SECRET),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        if v.is_empty() {
            m.remove(*k);
        } else {
            m.insert(k.to_string(), v.to_string());
        }
    }
    m
}

fn identity() -> Identity {
    Identity::from_env(&env(&[])).unwrap()
}

fn request(headers: &[(&str, &str)]) -> Request {
    let mut b = http::Request::builder();
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(lambda_http::Body::Empty).unwrap()
}

fn user_token(secret: &str, iss: &str, aud: &str, ttl_secs: i64, sub: &str) -> String {
    let now = Utc::now().timestamp();
    let claims = serde_json::json!({"sub": sub, "iss": iss, "aud": aud, "iat": now, "exp": now + ttl_secs});
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

#[tokio::test]
async fn a_valid_user_token_identifies_the_user() {
    let id = Uuid::now_v7();
    let token =
        mint_user_token(JWT_SECRET.as_bytes(), "https://issuer.test", "parley-api", id, Duration::from_secs(60));
    let caller = identity().caller(&request(&[("authorization", &format!("Bearer {token}"))])).await.unwrap();
    assert_eq!(caller, Caller::user(id));
}

#[tokio::test]
async fn an_expired_user_token_is_refused() {
    let token = user_token(JWT_SECRET, "https://issuer.test", "parley-api", -3600, &Uuid::now_v7().to_string());
    let err = identity().caller(&request(&[("authorization", &format!("Bearer {token}"))])).await.unwrap_err();
    assert_eq!(err.status, 401);
}

#[tokio::test]
async fn a_token_for_another_audience_or_issuer_is_refused() {
    for (iss, aud) in [("https://issuer.test", "someone-else"), ("https://evil.test", "parley-api")] {
        let token = user_token(JWT_SECRET, iss, aud, 60, &Uuid::now_v7().to_string());
        let err = identity().verify_user(&token).await.unwrap_err();
        assert_eq!(err.status, 401, "{iss} {aud}");
    }
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() {
    let token = user_token(
        "another-secret-of-sufficient-length-000",
        "https://issuer.test",
        "parley-api",
        60,
        &Uuid::now_v7().to_string(),
    );
    assert_eq!(identity().verify_user(&token).await.unwrap_err().status, 401);
}

#[tokio::test]
async fn a_tampered_token_is_refused() {
    let token = mint_user_token(
        JWT_SECRET.as_bytes(),
        "https://issuer.test",
        "parley-api",
        Uuid::now_v7(),
        Duration::from_secs(60),
    );
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let forged = serde_json::json!({"sub": Uuid::now_v7(), "iss": "https://issuer.test", "aud": "parley-api", "exp": 4102444800i64});
    parts[1] = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, forged.to_string());
    assert_eq!(identity().verify_user(&parts.join(".")).await.unwrap_err().status, 401);
}

#[tokio::test]
async fn an_anonymous_token_round_trips_and_is_not_a_user_token() {
    let id = identity();
    let session = Uuid::now_v7();
    let issued = id.issue_anonymous(session, Utc::now()).await.unwrap();
    let caller = id.caller(&request(&[(ANONYMOUS_HEADER, &issued.token)])).await.unwrap();
    assert_eq!(caller, Caller::anonymous(session));
    // THEN the same token presented as a user token is refused
    assert_eq!(id.verify_user(&issued.token).await.unwrap_err().status, 401);
}

#[tokio::test]
async fn an_expired_anonymous_token_is_refused() {
    let id = identity();
    let issued = id.issue_anonymous(Uuid::now_v7(), Utc::now() - chrono::Duration::hours(25)).await.unwrap();
    assert_eq!(id.caller(&request(&[(ANONYMOUS_HEADER, &issued.token)])).await.unwrap_err().status, 401);
}

#[tokio::test]
async fn no_credentials_is_nobody_and_require_any_says_401() {
    let caller = identity().caller(&request(&[])).await.unwrap();
    assert_eq!(caller, Caller::default());
    assert_eq!(caller.require_any().unwrap_err().status, 401);
}

#[tokio::test]
async fn a_non_bearer_authorization_is_refused() {
    let err = identity().caller(&request(&[("authorization", "Basic dXNlcjpwYXNz")])).await.unwrap_err();
    assert_eq!(err.status, 401);
}

#[test]
fn the_two_secrets_must_differ() {
    let err = Identity::from_env(&env(&[("PARLEY_ANON_TOKEN_SECRET", JWT_SECRET)])).err().unwrap();
    assert_eq!(err.name, "PARLEY_ANON_TOKEN_SECRET");
}

#[test]
fn a_missing_key_source_is_named() {
    let err = Identity::from_env(&env(&[("PARLEY_JWT_SECRET", "")])).err().unwrap();
    assert_eq!(err.name, "PARLEY_JWT_SECRET");
}

#[test]
fn a_plain_http_jwks_url_is_refused_outside_loopback() {
    let err =
        Identity::from_env(&env(&[("PARLEY_JWT_SECRET", ""), ("PARLEY_JWT_JWKS_URL", "http://idp.example/jwks")]))
            .err()
            .unwrap();
    assert_eq!(err.name, "PARLEY_JWT_JWKS_URL");
}

#[tokio::test]
async fn a_user_token_not_valid_yet_is_refused() {
    // GIVEN a correctly signed token whose `nbf` is an hour ahead
    let now = Utc::now().timestamp();
    let claims = serde_json::json!({"sub": Uuid::now_v7(), "iss": "https://issuer.test", "aud": "parley-api",
        "iat": now, "nbf": now + 3600, "exp": now + 7200});
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(JWT_SECRET.as_bytes()))
            .unwrap();
    // WHEN it is presented; THEN it is refused like an expired one
    assert_eq!(identity().verify_user(&token).await.unwrap_err().status, 401);
}

#[tokio::test]
async fn an_anonymous_token_not_valid_yet_is_refused() {
    let now = Utc::now().timestamp();
    let claims = serde_json::json!({"sub": Uuid::now_v7(), "iss": "parley", "aud": "parley:anonymous",
        "iat": now, "nbf": now + 3600, "exp": now + 7200});
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(ANON_SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(identity().caller(&request(&[(ANONYMOUS_HEADER, &token)])).await.unwrap_err().status, 401);
}

#[tokio::test]
async fn a_subject_that_is_not_a_uuid_needs_the_directory() {
    // GIVEN an Auth0-style subject and no database configured
    let token = user_token(JWT_SECRET, "https://issuer.test", "parley-api", 60, "auth0|5f7c8ec7c33c6c004bbafe82");
    // THEN it is not refused as a bad credential but as an unavailable directory
    assert_eq!(identity().verify_user(&token).await.unwrap_err().status, 503);
}
