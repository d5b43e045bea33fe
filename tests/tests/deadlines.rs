//! Outbound calls end before the function would be killed (docs/deploy.md, "Contract for
//! the code", point 4): a dependency that accepts the connection and then never answers
//! still gets the caller a clear answer within the function's timeout.
//!
//! The bound asserted is the function's timeout in infra/template.yaml — a correctness
//! bound (Lambda would kill the invocation and the caller would get API Gateway's 503
//! without a request id), not a performance target. A slow provider for Claude is covered
//! by `hardening_limits::a_slow_provider_degrades_within_the_invocation_and_opens_the_breaker`.

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parley_e2e::{Gateway, bearer_request, body_json, env_with, hanging_server, repo, send};
use reqwest::Method;
use uuid::Uuid;

/// `Timeout` of the API functions in infra/template.yaml.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn the_bound_is_the_templates_timeout() {
    let template = std::fs::read_to_string(repo().join("infra/template.yaml")).unwrap();
    let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(&template).unwrap();
    for function in ["SessionMeFunction", "SessionAnonymousFunction"] {
        let timeout = &template["Resources"][function]["Properties"]["Timeout"];
        assert_eq!(timeout.as_u64(), Some(FUNCTION_TIMEOUT.as_secs()), "{function}");
    }
}

#[tokio::test]
async fn a_hanging_identity_provider_answers_503_within_the_function_timeout() {
    // GIVEN user tokens verified against a JWKS endpoint that accepts and never answers
    let jwks = format!("{}/.well-known/jwks.json", hanging_server().await);
    let state = session_me::State::from_source(&env_with(&[("PARLEY_JWT_SECRET", ""), ("PARLEY_JWT_JWKS_URL", &jwks)]))
        .unwrap();
    let der = std::fs::read(repo().join("tests/data/jwks/test-signing-key.der")).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("parley-test-1".into());
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({"sub": Uuid::now_v7(), "iss": parley_e2e::setting("PARLEY_JWT_ISSUER"),
        "aud": parley_e2e::setting("PARLEY_JWT_AUDIENCE"), "iat": now, "exp": now + 300});
    let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_der(&der)).unwrap();
    // WHEN a request brings one
    let started = Instant::now();
    let resp = session_me::handle(&state, bearer_request("GET", "/v1/sessions/me", &token, None)).await;
    // THEN it is answered, a 503 problem naming the key set, before the function's timeout
    let elapsed = started.elapsed();
    assert_eq!(resp.status(), 503, "{}", body_json(&resp));
    assert!(body_json(&resp)["detail"].as_str().unwrap().contains("key set"));
    assert!(elapsed < FUNCTION_TIMEOUT, "answered after {elapsed:?}");
}

#[tokio::test]
async fn a_hanging_secrets_manager_answers_503_within_the_function_timeout() {
    // GIVEN a gateway whose anonymous-token key is in a Secrets Manager that never answers
    let secrets_manager = hanging_server().await;
    let gateway = Gateway::start(&[
        ("PARLEY_ANON_TOKEN_SECRET", ""),
        ("PARLEY_ANON_TOKEN_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:parley/hangs-AbCdEf"),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", &secrets_manager),
    ]);
    // WHEN a session is asked for
    let started = Instant::now();
    let reply = send(gateway.request(Method::POST, "/v1/sessions/anonymous", &[])).await;
    // THEN the answer is a 503 problem, before the function's timeout
    let elapsed = started.elapsed();
    reply.assert_problem(503);
    assert!(elapsed < FUNCTION_TIMEOUT, "answered after {elapsed:?}");
}
