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

impl ApiState {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self { db: Database::from_env(src, "PARLEY_DATABASE_URL")?, identity: Identity::from_env(src)? })
    }
}
