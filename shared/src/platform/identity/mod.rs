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

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use anonymous::AnonymousTokens;
pub use anonymous::{ANONYMOUS_TTL, IssuedToken};
use user::UserTokens;
pub use user::mint_user_token;

use crate::platform::config::{self, ConfigError, Source};
use crate::platform::error::ApiError;
use crate::platform::http::Request;
use crate::platform::secrets::SecretSetting;

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
    /// The anonymous-token key: in the environment, or fetched from Secrets Manager on the
    /// first request that issues or verifies an anonymous token.
    anonymous: SecretSetting<AnonymousTokens>,
    directory: Option<Directory>,
}

/// Where `(issuer, subject)` pairs get their internal user ids: the database
/// (`shared::platform::db::Database`, through `user_id_for` in migrations/V5). The first
/// sight of a pair creates its id; every later one, however concurrent, returns the same.
pub trait UserDirectory: Send + Sync {
    fn user_id<'a>(
        &'a self,
        issuer: &'a str,
        subject: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Uuid, ApiError>> + Send + 'a>>;
}

/// The directory, cached per instance: a mapping never changes once made, so each
/// instance asks once per user, and a UUID subject needs no question at all.
struct Directory {
    source: Box<dyn UserDirectory>,
    known: std::sync::Mutex<HashMap<String, Uuid>>,
}

/// Entries the per-instance cache holds before it starts over (a Lambda instance serves
/// one request at a time; this bounds memory, not correctness).
const DIRECTORY_CACHE: usize = 4096;

impl Directory {
    async fn user_id(&self, issuer: &str, subject: &str) -> Result<Uuid, ApiError> {
        if let Some(id) = self.known.lock().expect("never poisoned").get(subject) {
            return Ok(*id);
        }
        let id = self.source.user_id(issuer, subject).await?;
        let mut known = self.known.lock().expect("never poisoned");
        if known.len() >= DIRECTORY_CACHE {
            known.clear();
        }
        known.insert(subject.to_owned(), id);
        Ok(id)
    }
}

impl Identity {
    /// Reads:
    /// - `PARLEY_JWT_ISSUER`, `PARLEY_JWT_AUDIENCE` (required);
    /// - `PARLEY_JWT_SECRET` (HS256, ≥ 32 bytes) **or** `PARLEY_JWT_JWKS_URL` (https);
    /// - `PARLEY_ANON_TOKEN_SECRET` (≥ 32 bytes, never the same as the JWT secret), or
    ///   `PARLEY_ANON_TOKEN_SECRET_ARN` (fetched on first use, [`crate::platform::secrets`]).
    ///
    /// Without a directory ([`with_directory`](Self::with_directory)) only UUID subjects
    /// are accepted.
    pub fn from_env(src: &impl Source) -> Result<Self, ConfigError> {
        let issuer = config::required(src, "PARLEY_JWT_ISSUER")?;
        let audience = config::required(src, "PARLEY_JWT_AUDIENCE")?;
        // Compared with the anonymous key when that arrives (at cold start, or at its fetch).
        let jwt_secret = config::optional(src, "PARLEY_JWT_SECRET");
        let anonymous = SecretSetting::required(
            src,
            "PARLEY_ANON_TOKEN_SECRET",
            "PARLEY_ANON_TOKEN_SECRET_ARN",
            move |key: &str| {
                if key.len() < 32 {
                    return Err("must be at least 32 bytes long".to_owned());
                }
                if jwt_secret.as_deref() == Some(key) {
                    return Err("must differ from PARLEY_JWT_SECRET".to_owned());
                }
                Ok(AnonymousTokens::new(key.as_bytes()))
            },
        )?;
        let users = match (config::optional(src, "PARLEY_JWT_SECRET"), config::optional(src, "PARLEY_JWT_JWKS_URL")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "PARLEY_JWT_JWKS_URL",
                    "cannot be set together with PARLEY_JWT_SECRET; choose one",
                ));
            }
            (Some(_), None) => {
                let secret = config::secret(src, "PARLEY_JWT_SECRET")?;
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
        Ok(Self::build(users, anonymous, None))
    }

    fn build(
        users: UserTokens,
        anonymous: SecretSetting<AnonymousTokens>,
        source: Option<Box<dyn UserDirectory>>,
    ) -> Self {
        let directory = source.map(|source| Directory { source, known: Default::default() });
        Self { inner: Arc::new(Inner { users, anonymous, directory }) }
    }

    /// The same verifier, mapping subjects that are not UUIDs through `directory` (the
    /// API role's pool).
    pub fn with_directory(self, directory: impl UserDirectory + 'static) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => Self::build(inner.users, inner.anonymous, Some(Box::new(directory))),
            Err(_) => panic!("with_directory is called once, while the state is built"),
        }
    }

    /// Signs a token for a new anonymous session; 503 when the key cannot be fetched.
    pub async fn issue_anonymous(
        &self,
        session_id: Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<IssuedToken, ApiError> {
        Ok(self.inner.anonymous.get().await?.issue(session_id, now))
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
            caller.anonymous_session_id = Some(self.inner.anonymous.get().await?.verify(token.trim())?);
        }
        Ok(caller)
    }

    /// Verifies a user JWT and returns the internal user id of its `(issuer, subject)`.
    ///
    /// A subject that is a UUID is its own internal id: every row written before the
    /// `users` table existed is keyed on it, and exactly one issuer is trusted, so two
    /// providers cannot present the same UUID. Any other subject (`auth0|…`, `user_2…`, a
    /// Firebase uid) is mapped to a UUIDv7 on first sight (migrations/V5, `user_id_for`).
    pub async fn verify_user(&self, token: &str) -> Result<Uuid, ApiError> {
        let subject = self.inner.users.verify(token).await?;
        if let Ok(id) = Uuid::parse_str(&subject) {
            return Ok(id);
        }
        match &self.inner.directory {
            Some(directory) => directory.user_id(self.inner.users.issuer(), &subject).await,
            None => Err(ApiError::unavailable("the user directory (PARLEY_DATABASE_URL is not set)")),
        }
    }
}
