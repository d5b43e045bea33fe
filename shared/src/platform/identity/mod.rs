//! Who a request comes from: a signed-in user (a JWT from the identity provider) and/or an
//! anonymous visitor (a session token this service signed).
//!
//! Guarantees:
//! - a credential that is present but invalid (bad signature, expired, wrong issuer or
//!   audience, malformed) is refused with 401 — it never silently degrades to "nobody";
//! - user tokens and anonymous tokens use different keys *and* audiences, so one can never
//!   pass for the other;
//! - token text and claims are never logged.
//!
//! Parts: `user` (user JWTs, HS256 or JWKS), `jwks` (the provider's key set, cached),
//! `anonymous` (the session tokens this service signs).

mod anonymous;
mod jwks;
mod user;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use uuid::Uuid;

use anonymous::AnonymousTokens;
pub use anonymous::{ANONYMOUS_TTL, IssuedToken};
use user::UserTokens;
pub use user::mint_user_token;

use crate::platform::config::{self, ConfigError, Source};
use crate::platform::error::ApiError;
use crate::platform::http::Request;

/// Header carrying the anonymous session token.
pub const ANONYMOUS_HEADER: &str = "x-anonymous-session";
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

/// Verifies user and anonymous credentials; built once per cold start.
#[derive(Clone)]
pub struct Identity {
    inner: Arc<Inner>,
}

struct Inner {
    users: UserTokens,
    anonymous: AnonymousTokens,
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
        let users = match (config::optional(src, "PARLEY_JWT_SECRET"), config::optional(src, "PARLEY_JWT_JWKS_URL")) {
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
                UserTokens::hs256(&secret, issuer, audience)
            }
            (None, Some(url)) => {
                let is_local = url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost");
                if !url.starts_with("https://") && !is_local {
                    return Err(ConfigError::new("PARLEY_JWT_JWKS_URL", "must be an https:// URL"));
                }
                UserTokens::jwks(url, issuer, audience)
            }
            (None, None) => {
                return Err(ConfigError::new("PARLEY_JWT_SECRET", "is not set (or set PARLEY_JWT_JWKS_URL)"));
            }
        };
        Ok(Self { inner: Arc::new(Inner { users, anonymous: AnonymousTokens::new(&anon_secret) }) })
    }

    /// Signs a token for a new anonymous session.
    pub fn issue_anonymous(&self, session_id: Uuid, now: chrono::DateTime<chrono::Utc>) -> IssuedToken {
        self.inner.anonymous.issue(session_id, now)
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
            caller.anonymous_session_id = Some(self.inner.anonymous.verify(token.trim())?);
        }
        Ok(caller)
    }

    /// Verifies a user JWT and returns its subject, which must be a UUID.
    pub async fn verify_user(&self, token: &str) -> Result<Uuid, ApiError> {
        self.inner.users.verify(token).await
    }
}
