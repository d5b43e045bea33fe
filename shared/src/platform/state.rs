//! The state most API functions need: the API role's database pool and the identity
//! verifier, built once per cold start from `PARLEY_DATABASE_URL` and the identity settings.
//!
//! A function whose handler needs only these uses `ApiState` as its `State`; one that
//! needs more embeds it.

use crate::platform::config::{ConfigError, ProcessEnv, Source};
use crate::platform::db::Database;
use crate::platform::identity::Identity;

#[derive(Clone)]
pub struct ApiState {
    pub db: Database,
    pub identity: Identity,
}

/// The identity verifier for a function without a pool of its own: with the user
/// directory when `PARLEY_DATABASE_URL` is set (connected lazily, on first use), so
/// subjects that are not UUIDs can be mapped; without it, only UUID subjects pass.
pub fn identity_from_env(src: &impl Source) -> Result<Identity, ConfigError> {
    let identity = Identity::from_env(src)?;
    match crate::platform::config::optional(src, "PARLEY_DATABASE_URL") {
        Some(_) => Ok(identity.with_directory(Database::lazy_from_env(src, "PARLEY_DATABASE_URL")?)),
        None => Ok(identity),
    }
}

impl ApiState {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let db = Database::from_env(src, "PARLEY_DATABASE_URL")?;
        // The user directory shares this pool rather than opening one of its own.
        let identity = Identity::from_env(src)?.with_directory(db.clone());
        Ok(Self { db, identity })
    }
}
