//! Anonymous session tokens: HS256 JWTs this service signs, with their own secret, issuer
//! and audience, so one can never pass for a user token.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::user::LEEWAY_SECS;
use crate::platform::error::ApiError;

/// Lifetime of an anonymous session token.
pub const ANONYMOUS_TTL: Duration = Duration::from_secs(24 * 60 * 60);
const ANONYMOUS_ISSUER: &str = "parley";
const ANONYMOUS_AUDIENCE: &str = "parley:anonymous";

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

/// Signs and verifies anonymous session tokens.
pub(super) struct AnonymousTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl AnonymousTokens {
    pub(super) fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ANONYMOUS_ISSUER]);
        validation.set_audience(&[ANONYMOUS_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation }
    }

    /// Signs a token for a new anonymous session.
    pub(super) fn issue(&self, session_id: Uuid, now: DateTime<Utc>) -> IssuedToken {
        let expires_at = now + ANONYMOUS_TTL;
        let claims = AnonymousClaims {
            sub: session_id,
            iss: ANONYMOUS_ISSUER.to_owned(),
            aud: ANONYMOUS_AUDIENCE.to_owned(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of a small claim set cannot fail");
        IssuedToken { token, expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or(expires_at) }
    }

    /// The session id of a valid token.
    pub(super) fn verify(&self, token: &str) -> Result<Uuid, ApiError> {
        jsonwebtoken::decode::<AnonymousClaims>(token, &self.decoding, &self.validation).map(|d| d.claims.sub).map_err(
            |e| {
                tracing::info!(reason = ?e.kind(), "anonymous token refused");
                ApiError::unauthorized("the anonymous session token is invalid or expired")
            },
        )
    }
}
