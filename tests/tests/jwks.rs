//! The production path of user tokens: RS256 JWTs verified against the identity provider's
//! JWKS, fetched over HTTP from a local server, cached, and refused when anything is off.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lambda_http::Body;
use parley_e2e::repo;
use serde_json::json;
use uuid::Uuid;

const ISSUER: &str = "https://idp.parley.test/";
const AUDIENCE: &str = "parley-api";

/// Serves tests/data/jwks/jwks.json; returns its URL and a request counter.
async fn jwks_server() -> (String, Arc<AtomicUsize>) {
    parley_e2e::serve_jwks("jwks.json").await
}

fn state(jwks_url: &str) -> session_me::State {
    let env: HashMap<String, String> = [
        ("PARLEY_JWT_ISSUER", ISSUER),
        ("PARLEY_JWT_AUDIENCE", AUDIENCE),
        ("PARLEY_JWT_JWKS_URL", jwks_url),
        ("PARLEY_ANON_TOKEN_SECRET", "jwks-test-anonymous-secret-0123456789"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    session_me::State::from_source(&env).unwrap()
}

fn rs256(kid: &str, claims: serde_json::Value) -> String {
    let der = std::fs::read(repo().join("tests/data/jwks/test-signing-key.der")).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_der(&der)).unwrap()
}

/// The provider's public key as an attacker finds it: every published encoding.
fn public_key_material() -> Vec<(&'static str, Vec<u8>)> {
    let file = |name: &str| std::fs::read(repo().join("tests/data/jwks").join(name)).unwrap();
    let jwks: serde_json::Value = serde_json::from_slice(&file("jwks.json")).expect("jwks.json is JSON");
    let jwk = &jwks["keys"][0];
    let n = jwk["n"].as_str().expect("an RSA JWK has n");
    use base64::Engine as _;
    let modulus = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(n).unwrap();
    assert_eq!(modulus.len(), 256, "RSA-2048 modulus");
    vec![
        ("SPKI PEM", file("test-public-key.spki.pem")),
        ("SPKI DER", file("test-public-key.spki.der")),
        ("PKCS#1 PEM", file("test-public-key.pkcs1.pem")),
        ("PKCS#1 DER", file("test-public-key.pkcs1.der")),
        ("modulus bytes", modulus),
        ("modulus base64url", n.as_bytes().to_vec()),
        ("JWK JSON", serde_json::to_vec(jwk).unwrap()),
    ]
}

fn claims(user: Uuid, exp_in: i64) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": user, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + exp_in})
}

async fn me(state: &session_me::State, token: &str) -> (u16, serde_json::Value) {
    let resp = session_me::handle(state, parley_e2e::bearer_request("GET", "/v1/sessions/me", token, None)).await;
    let body = match resp.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        _ => serde_json::Value::Null,
    };
    (resp.status().as_u16(), body)
}

#[tokio::test]
async fn an_rs256_token_from_the_identity_provider_is_accepted_and_the_keys_are_cached() {
    let (url, hits) = jwks_server().await;
    let state = state(&url);
    let user = Uuid::now_v7();
    for _ in 0..3 {
        let (status, body) = me(&state, &rs256("parley-test-1", claims(user, 300))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"kind": "user", "id": user}));
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the JWKS is fetched once and cached");
}

#[tokio::test]
async fn unknown_keys_wrong_algorithms_and_expired_tokens_are_refused() {
    let (url, hits) = jwks_server().await;
    let state = state(&url);
    let user = Uuid::now_v7();
    assert_eq!(me(&state, &rs256("someone-elses-key", claims(user, 300))).await.0, 401);
    assert_eq!(me(&state, &rs256("parley-test-1", claims(user, -3600))).await.0, 401);
    let mut wrong_aud = claims(user, 300);
    wrong_aud["aud"] = json!("another-api");
    assert_eq!(me(&state, &rs256("parley-test-1", wrong_aud)).await.0, 401);
    // Algorithm confusion: an HS256 token whose HMAC key is the provider's RSA public key,
    // in every form an attacker can get it (PEM and DER, SPKI and PKCS#1, the JWK's modulus
    // as bytes and as the base64url text, the JWK itself), must not pass as RS256.
    for (form, secret) in public_key_material() {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("parley-test-1".into());
        let hs = jsonwebtoken::encode(&header, &claims(user, 300), &EncodingKey::from_secret(&secret)).unwrap();
        assert_eq!(me(&state, &hs).await.0, 401, "HS256 keyed with the public key as {form} was accepted");
    }
    // A burst of unknown kids does not hammer the provider: refreshes are rate-limited.
    for i in 0..5 {
        assert_eq!(me(&state, &rs256(&format!("forged-{i}"), claims(user, 300))).await.0, 401);
    }
    assert!(hits.load(Ordering::SeqCst) <= 2, "{} JWKS fetches", hits.load(Ordering::SeqCst));
}

#[tokio::test]
async fn an_unreachable_identity_provider_is_a_503_not_a_401() {
    let port = parley_e2e::closed_port();
    let state = state(&format!("http://127.0.0.1:{port}/jwks.json"));
    let (status, body) = me(&state, &rs256("parley-test-1", claims(Uuid::now_v7(), 300))).await;
    assert_eq!(status, 503, "{body}");
}
