//! README.md: signed-in users' tokens are verified against "the identity provider's JWKS
//! (`PARLEY_JWT_JWKS_URL`, RS256/ES256)". tests/tests/jwks.rs covers RS256; this covers ES256
//! (P-256) with a test-only key (tests/data/jwks/es256-test-signing-key.der) published in a
//! JWKS that also holds an RSA key, as an identity provider's would.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parley_e2e::promises::{apigw_request, parts};
use parley_e2e::repo;
use serde_json::{Value, json};
use uuid::Uuid;

const ISSUER: &str = "https://idp.parley.test/";
const AUDIENCE: &str = "parley-api";
const KID: &str = "parley-test-es256";

/// Serves tests/data/jwks/jwks-es256.json on loopback; returns its URL.
async fn jwks_server() -> String {
    parley_e2e::serve_jwks("jwks-es256.json").await.0
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

fn es256(key_der: &[u8], claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(KID.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(key_der)).unwrap()
}

fn test_key() -> Vec<u8> {
    std::fs::read(repo().join("tests/data/jwks/es256-test-signing-key.der")).unwrap()
}

fn claims(user: Uuid) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": user, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300})
}

async fn me(state: &session_me::State, token: &str) -> (u16, String) {
    let headers = [("authorization".to_owned(), format!("Bearer {token}"))];
    parts(
        &session_me::handle(state, apigw_request("GET", "/v1/sessions/me", "GET /v1/sessions/me", &headers, None))
            .await,
    )
}

#[tokio::test]
async fn an_es256_token_signed_by_a_key_in_the_jwks_is_accepted() {
    // GIVEN the identity provider's JWKS with a P-256 key, and a token it signed
    let state = state(&jwks_server().await);
    let user = Uuid::now_v7();
    let token = es256(&test_key(), &claims(user));
    // WHEN it is presented THEN the caller is that user
    let (status, body) = me(&state, &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({"kind": "user", "id": user}));
}

#[tokio::test]
async fn a_tampered_es256_token_is_refused() {
    let state = state(&jwks_server().await);
    let (user, intruder) = (Uuid::now_v7(), Uuid::now_v7());
    let token = es256(&test_key(), &claims(user));
    // GIVEN the token's payload swapped for another subject, its signature kept
    let [header, _, signature]: [&str; 3] = token.split('.').collect::<Vec<_>>().try_into().unwrap();
    let forged = format!("{header}.{}.{signature}", URL_SAFE_NO_PAD.encode(claims(intruder).to_string()));
    // WHEN it is presented THEN it is refused with 401
    let (status, body) = me(&state, &forged).await;
    assert_eq!(status, 401, "{body}");
    // AND so is one whose signature has a flipped bit
    let mut sig = URL_SAFE_NO_PAD.decode(signature).unwrap();
    sig[10] ^= 0x01;
    let flipped = format!("{}.{}", token.rsplit_once('.').unwrap().0, URL_SAFE_NO_PAD.encode(sig));
    assert_eq!(me(&state, &flipped).await.0, 401);
    // AND one signed by another P-256 key under the published kid
    let other_key = std::fs::read(repo().join("tests/data/jwks/es256-unpublished-key.der")).unwrap();
    assert_eq!(me(&state, &es256(&other_key, &claims(user))).await.0, 401);
    // AND the untampered token still passes (the refusals were about the tampering)
    assert_eq!(me(&state, &token).await.0, 200);
}
