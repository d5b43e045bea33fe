//! User tokens: JWTs from the identity provider, verified with a shared HS256 secret
//! (local development, tests) or the provider's JWKS (RS256/ES256, production).

use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::jwks::{JwksCache, invalid_user_token};
use crate::platform::error::ApiError;

/// Clock skew tolerated on `exp`/`nbf`, for user and anonymous tokens alike.
pub(super) const LEEWAY_SECS: u64 = 30;

/// How user JWTs are verified.
enum UserKeys {
    /// Shared secret; local development and tests.
    Hs256(DecodingKey),
    /// The identity provider's published keys (RS256/ES256), fetched on first use.
    Jwks(JwksCache),
}

/// Verifies user tokens for one issuer and audience.
pub(super) struct UserTokens {
    keys: UserKeys,
    validation: Validation,
    issuer: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct UserClaims {
    sub: String,
}

impl UserTokens {
    pub(super) fn hs256(secret: &[u8], issuer: String, audience: String) -> Self {
        Self::new(UserKeys::Hs256(DecodingKey::from_secret(secret)), vec![Algorithm::HS256], issuer, audience)
    }

    pub(super) fn jwks(url: String, issuer: String, audience: String) -> Self {
        Self::new(UserKeys::Jwks(JwksCache::new(url)), vec![Algorithm::RS256, Algorithm::ES256], issuer, audience)
    }

    fn new(keys: UserKeys, algorithms: Vec<Algorithm>, issuer: String, audience: String) -> Self {
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms;
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        // A token not valid yet is refused like an expired one (jsonwebtoken skips `nbf`
        // unless asked); when absent there is nothing to check.
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Self { keys, validation, issuer }
    }

    /// The one issuer whose tokens verify.
    pub(super) fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Verifies a user JWT and returns its subject (any non-empty string of at most 512
    /// bytes: providers differ — `auth0|…`, `user_2…`, Firebase uids, UUIDs).
    pub(super) async fn verify(&self, token: &str) -> Result<String, ApiError> {
        let data = match &self.keys {
            UserKeys::Hs256(key) => jsonwebtoken::decode::<UserClaims>(token, key, &self.validation),
            UserKeys::Jwks(cache) => {
                let header = jsonwebtoken::decode_header(token).map_err(|_| invalid_user_token())?;
                // jsonwebtoken requires every algorithm of a Validation to match the key's
                // family, so each token is checked against its own algorithm — once that
                // algorithm is known to be one we accept.
                if !self.validation.algorithms.contains(&header.alg) {
                    return Err(invalid_user_token());
                }
                let kid = header.kid.ok_or_else(invalid_user_token)?;
                let key = cache.key(&kid).await?;
                let mut validation = self.validation.clone();
                validation.algorithms = vec![header.alg];
                jsonwebtoken::decode::<UserClaims>(token, &key, &validation)
            }
        }
        .map_err(|e| {
            tracing::info!(reason = ?e.kind(), "user token refused");
            invalid_user_token()
        })?;
        let sub = data.claims.sub;
        if sub.is_empty() || sub.len() > 512 || sub.chars().any(char::is_control) {
            return Err(ApiError::unauthorized("the user token's subject is not a usable id"));
        }
        Ok(sub)
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
