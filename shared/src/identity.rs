//! Who a request comes from: a signed-in user (a JWT from the identity provider) and/or an
//! anonymous visitor (a session token this service signed).
//!
//! Guarantees:
//! - a credential that is present but invalid (bad signature, expired, wrong issuer or
//!   audience, malformed) is refused with 401 — it never silently degrades to "nobody";
//! - user tokens and anonymous tokens use different keys *and* audiences, so one can never
//!   pass for the other;
//! - token text and claims are never logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, jwk::JwkSet};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::config::{self, ConfigError, Source};
use crate::error::ApiError;
use crate::http::Request;

/// Header carrying the anonymous session token.
pub const ANONYMOUS_HEADER: &str = "x-anonymous-session";
/// Lifetime of an anonymous session token.
pub const ANONYMOUS_TTL: Duration = Duration::from_secs(24 * 60 * 60);
const ANONYMOUS_ISSUER: &str = "parley";
const ANONYMOUS_AUDIENCE: &str = "parley:anonymous";
/// Clock skew tolerated on `exp`/`nbf`.
const LEEWAY_SECS: u64 = 30;

/// The caller, as far as the credentials on the request prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caller {
    pub user_id: Option<Uuid>,
    pub anonymous_session_id: Option<Uuid>,
}

impl Caller {
    pub fn user(id: Uuid) -> Self {
        Self { user_id: Some(id), anonymous_session_id: None }
    }

    pub fn anonymous(id: Uuid) -> Self {
        Self { user_id: None, anonymous_session_id: Some(id) }
    }

    /// The caller, or 401 when the request carries no credential at all.
    pub fn require_any(self) -> Result<Self, ApiError> {
        if self.user_id.is_none() && self.anonymous_session_id.is_none() {
            return Err(ApiError::unauthorized(format!(
                "send a user token in Authorization: Bearer, or an anonymous session token in {ANONYMOUS_HEADER}"
            )));
        }
        Ok(self)
    }

    /// A stable key for per-caller records (rate limits, idempotency): `user:<id>` when
    /// signed in, else `anonymous:<id>`.
    pub fn key(&self) -> String {
        match (self.user_id, self.anonymous_session_id) {
            (Some(user), _) => format!("user:{user}"),
            (None, Some(anon)) => format!("anonymous:{anon}"),
            (None, None) => "nobody".to_owned(),
        }
    }

    /// `(owner_user_id, owner_anonymous_session_id)` for rows this caller creates: the
    /// user when signed in, else the anonymous session.
    pub fn owner_columns(&self) -> (Option<Uuid>, Option<Uuid>) {
        match self.user_id {
            Some(user) => (Some(user), None),
            None => (None, self.anonymous_session_id),
        }
    }

    /// The signed-in user, or 401.
    pub fn require_user(self) -> Result<Uuid, ApiError> {
        self.user_id
            .ok_or_else(|| ApiError::unauthorized("this endpoint needs a signed-in user (Authorization: Bearer)"))
    }
}

/// How user JWTs are verified.
enum UserKeys {
    /// Shared secret; local development and tests.
    Hs256(DecodingKey),
    /// The identity provider's published keys (RS256/ES256), fetched on first use.
    Jwks(JwksCache),
}

/// Verifies user and anonymous credentials; built once per cold start.
#[derive(Clone)]
pub struct Identity {
    inner: Arc<Inner>,
}

struct Inner {
    user_keys: UserKeys,
    user_validation: Validation,
    anon_encoding: EncodingKey,
    anon_decoding: DecodingKey,
    anon_validation: Validation,
}

#[derive(Debug, Serialize, Deserialize)]
struct UserClaims {
    sub: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct AnonymousClaims {
    sub: Uuid,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// An anonymous session token just issued.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl Identity {
    /// Reads:
    /// - `PARLEY_JWT_ISSUER`, `PARLEY_JWT_AUDIENCE` (required);
    /// - `PARLEY_JWT_SECRET` (HS256, ≥ 32 bytes) **or** `PARLEY_JWT_JWKS_URL` (https);
    /// - `PARLEY_ANON_TOKEN_SECRET` (≥ 32 bytes, never the same as the JWT secret).
    pub fn from_env(src: &impl Source) -> Result<Self, ConfigError> {
        let issuer = config::required(src, "PARLEY_JWT_ISSUER")?;
        let audience = config::required(src, "PARLEY_JWT_AUDIENCE")?;
        let anon_secret = config::secret(src, "PARLEY_ANON_TOKEN_SECRET")?;
        let (user_keys, algorithms) =
            match (config::optional(src, "PARLEY_JWT_SECRET"), config::optional(src, "PARLEY_JWT_JWKS_URL")) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError::new(
                        "PARLEY_JWT_JWKS_URL",
                        "cannot be set together with PARLEY_JWT_SECRET; choose one",
                    ));
                }
                (Some(_), None) => {
                    let secret = config::secret(src, "PARLEY_JWT_SECRET")?;
                    if secret == anon_secret {
                        return Err(ConfigError::new("PARLEY_ANON_TOKEN_SECRET", "must differ from PARLEY_JWT_SECRET"));
                    }
                    (UserKeys::Hs256(DecodingKey::from_secret(&secret)), vec![Algorithm::HS256])
                }
                (None, Some(url)) => {
                    let is_local = url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost");
                    if !url.starts_with("https://") && !is_local {
                        return Err(ConfigError::new("PARLEY_JWT_JWKS_URL", "must be an https:// URL"));
                    }
                    (UserKeys::Jwks(JwksCache::new(url)), vec![Algorithm::RS256, Algorithm::ES256])
                }
                (None, None) => {
                    return Err(ConfigError::new("PARLEY_JWT_SECRET", "is not set (or set PARLEY_JWT_JWKS_URL)"));
                }
            };
        let mut user_validation = Validation::new(algorithms[0]);
        user_validation.algorithms = algorithms;
        user_validation.set_issuer(&[issuer]);
        user_validation.set_audience(&[audience]);
        user_validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        user_validation.leeway = LEEWAY_SECS;

        let mut anon_validation = Validation::new(Algorithm::HS256);
        anon_validation.set_issuer(&[ANONYMOUS_ISSUER]);
        anon_validation.set_audience(&[ANONYMOUS_AUDIENCE]);
        anon_validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        anon_validation.leeway = LEEWAY_SECS;

        Ok(Self {
            inner: Arc::new(Inner {
                user_keys,
                user_validation,
                anon_encoding: EncodingKey::from_secret(&anon_secret),
                anon_decoding: DecodingKey::from_secret(&anon_secret),
                anon_validation,
            }),
        })
    }

    /// Signs a token for a new anonymous session.
    pub fn issue_anonymous(&self, session_id: Uuid, now: DateTime<Utc>) -> IssuedToken {
        let expires_at = now + ANONYMOUS_TTL;
        let claims = AnonymousClaims {
            sub: session_id,
            iss: ANONYMOUS_ISSUER.to_owned(),
            aud: ANONYMOUS_AUDIENCE.to_owned(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.inner.anon_encoding)
            .expect("HS256 signing of a small claim set cannot fail");
        IssuedToken { token, expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or(expires_at) }
    }

    /// Resolves the credentials on `req`. Absent credentials give an empty [`Caller`];
    /// present-but-invalid ones give 401.
    pub async fn caller(&self, req: &Request) -> Result<Caller, ApiError> {
        let mut caller = Caller::default();
        if let Some(value) = req.headers().get(http::header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| ApiError::unauthorized("Authorization must be 'Bearer <token>'"))?;
            caller.user_id = Some(self.verify_user(token).await?);
        }
        if let Some(value) = req.headers().get(ANONYMOUS_HEADER) {
            let token =
                value.to_str().map_err(|_| ApiError::unauthorized("the anonymous session token is malformed"))?;
            caller.anonymous_session_id = Some(self.verify_anonymous(token.trim())?);
        }
        Ok(caller)
    }

    /// Verifies a user JWT and returns its subject, which must be a UUID.
    pub async fn verify_user(&self, token: &str) -> Result<Uuid, ApiError> {
        let data = match &self.inner.user_keys {
            UserKeys::Hs256(key) => jsonwebtoken::decode::<UserClaims>(token, key, &self.inner.user_validation),
            UserKeys::Jwks(cache) => {
                let header = jsonwebtoken::decode_header(token).map_err(|_| invalid_user_token())?;
                // jsonwebtoken requires every algorithm of a Validation to match the key's
                // family, so each token is checked against its own algorithm — once that
                // algorithm is known to be one we accept.
                if !self.inner.user_validation.algorithms.contains(&header.alg) {
                    return Err(invalid_user_token());
                }
                let kid = header.kid.ok_or_else(invalid_user_token)?;
                let key = cache.key(&kid).await?;
                let mut validation = self.inner.user_validation.clone();
                validation.algorithms = vec![header.alg];
                jsonwebtoken::decode::<UserClaims>(token, &key, &validation)
            }
        }
        .map_err(|e| {
            tracing::info!(reason = ?e.kind(), "user token refused");
            invalid_user_token()
        })?;
        Uuid::parse_str(&data.claims.sub)
            .map_err(|_| ApiError::unauthorized("the user token's subject is not a user id"))
    }

    fn verify_anonymous(&self, token: &str) -> Result<Uuid, ApiError> {
        jsonwebtoken::decode::<AnonymousClaims>(token, &self.inner.anon_decoding, &self.inner.anon_validation)
            .map(|d| d.claims.sub)
            .map_err(|e| {
                tracing::info!(reason = ?e.kind(), "anonymous token refused");
                ApiError::unauthorized("the anonymous session token is invalid or expired")
            })
    }
}

fn invalid_user_token() -> ApiError {
    ApiError::unauthorized("the user token is invalid or expired")
}

/// The identity provider's JWKS, fetched on first use and refreshed when a token names an
/// unknown key id (at most once a minute, so forged kids cannot hammer the provider).
struct JwksCache {
    url: String,
    state: Mutex<JwksState>,
}

#[derive(Default)]
struct JwksState {
    keys: Option<JwkSet>,
    fetched_at: Option<Instant>,
}

const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
const JWKS_MIN_REFRESH: Duration = Duration::from_secs(60);

impl JwksCache {
    fn new(url: String) -> Self {
        Self { url, state: Mutex::new(JwksState::default()) }
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, ApiError> {
        let mut state = self.state.lock().await;
        let stale = state.fetched_at.is_none_or(|t| t.elapsed() > JWKS_MAX_AGE);
        let unknown = state.keys.as_ref().is_none_or(|k| k.find(kid).is_none());
        let may_refresh = state.fetched_at.is_none_or(|t| t.elapsed() > JWKS_MIN_REFRESH);
        if stale || (unknown && may_refresh) {
            match crate::outbound::get_json::<JwkSet>(&self.url).await {
                Ok(keys) => {
                    state.keys = Some(keys);
                    state.fetched_at = Some(Instant::now());
                }
                // Keep serving cached keys through a provider blip; fail only with none.
                Err(e) if state.keys.is_some() => tracing::warn!(error = %e, "JWKS refresh failed; using cached keys"),
                Err(e) => return Err(ApiError::unavailable("the identity provider's key set").with_source(e)),
            }
        }
        let jwk = state.keys.as_ref().and_then(|k| k.find(kid)).ok_or_else(invalid_user_token)?;
        DecodingKey::from_jwk(jwk).map_err(|_| invalid_user_token())
    }
}

/// Mints an HS256 user token the way the local identity settings expect. For local
/// development (`parley-local token`) and tests; production tokens come from the IdP.
pub fn mint_user_token(secret: &[u8], issuer: &str, audience: &str, user_id: Uuid, ttl: Duration) -> String {
    #[derive(Serialize)]
    struct Claims<'a> {
        sub: String,
        iss: &'a str,
        aud: &'a str,
        iat: i64,
        exp: i64,
    }
    let now = Utc::now().timestamp();
    let claims =
        Claims { sub: user_id.to_string(), iss: issuer, aud: audience, iat: now, exp: now + ttl.as_secs() as i64 };
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret))
        .expect("HS256 signing of a small claim set cannot fail")
}

#[cfg(test)]
mod tests {
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
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))
            .unwrap()
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
        let issued = id.issue_anonymous(session, Utc::now());
        let caller = id.caller(&request(&[(ANONYMOUS_HEADER, &issued.token)])).await.unwrap();
        assert_eq!(caller, Caller::anonymous(session));
        // THEN the same token presented as a user token is refused
        assert_eq!(id.verify_user(&issued.token).await.unwrap_err().status, 401);
    }

    #[tokio::test]
    async fn an_expired_anonymous_token_is_refused() {
        let id = identity();
        let issued = id.issue_anonymous(Uuid::now_v7(), Utc::now() - chrono::Duration::hours(25));
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
}
