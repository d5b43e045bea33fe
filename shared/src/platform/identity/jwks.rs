//! The identity provider's published signing keys (JWKS), cached per instance.

use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use tokio::sync::Mutex;

use crate::platform::error::ApiError;

/// The identity provider's JWKS, fetched on first use and refreshed when a token names an
/// unknown key id (at most once a minute, so forged kids cannot hammer the provider).
pub(super) struct JwksCache {
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
    pub(super) fn new(url: String) -> Self {
        Self { url, state: Mutex::new(JwksState::default()) }
    }

    pub(super) async fn key(&self, kid: &str) -> Result<DecodingKey, ApiError> {
        let mut state = self.state.lock().await;
        let stale = state.fetched_at.is_none_or(|t| t.elapsed() > JWKS_MAX_AGE);
        let unknown = state.keys.as_ref().is_none_or(|k| k.find(kid).is_none());
        let may_refresh = state.fetched_at.is_none_or(|t| t.elapsed() > JWKS_MIN_REFRESH);
        if stale || (unknown && may_refresh) {
            match crate::platform::outbound::get_json::<JwkSet>(&self.url).await {
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

/// The one answer for any user token that does not verify: what failed is logged, not told.
pub(super) fn invalid_user_token() -> ApiError {
    ApiError::unauthorized("the user token is invalid or expired")
}
