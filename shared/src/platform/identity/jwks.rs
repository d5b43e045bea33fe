//! The identity provider's published signing keys (JWKS), cached per instance.

use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use tokio::sync::Mutex;

use crate::platform::error::ApiError;

/// The identity provider's JWKS, fetched on first use and refreshed when a token names an
/// unknown key id (at most once a minute, so forged kids cannot hammer the provider).
///
/// A refresh that fails keeps the cached keys in service and is not tried again before a
/// backoff has passed (1 s, doubling to 5 min): a provider outage costs one bounded fetch
/// (`FETCH_BUDGET`) per backoff period, not three slow attempts on every request.
pub(super) struct JwksCache {
    url: String,
    state: Mutex<JwksState>,
}

#[derive(Default)]
struct JwksState {
    keys: Option<JwkSet>,
    fetched_at: Option<Instant>,
    /// Failed refreshes in a row, and when the next may be tried.
    failures: u32,
    retry_at: Option<Instant>,
    /// Fetches started (for tests).
    attempts: u32,
}

const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
const JWKS_MIN_REFRESH: Duration = Duration::from_secs(60);
/// The whole fetch, retries included, must finish within this.
const FETCH_BUDGET: Duration = Duration::from_secs(3);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

impl JwksCache {
    pub(super) fn new(url: String) -> Self {
        Self { url, state: Mutex::new(JwksState::default()) }
    }

    pub(super) async fn key(&self, kid: &str) -> Result<DecodingKey, ApiError> {
        let mut state = self.state.lock().await;
        let stale = state.fetched_at.is_none_or(|t| t.elapsed() > JWKS_MAX_AGE);
        let unknown = state.keys.as_ref().is_none_or(|k| k.find(kid).is_none());
        let may_refresh = state.fetched_at.is_none_or(|t| t.elapsed() > JWKS_MIN_REFRESH);
        let backing_off = state.retry_at.is_some_and(|t| Instant::now() < t);
        if (stale || (unknown && may_refresh)) && !backing_off {
            state.attempts += 1;
            let fetched = tokio::time::timeout(FETCH_BUDGET, crate::platform::outbound::get_json::<JwkSet>(&self.url))
                .await
                .map_err(|_| "timed out".to_owned())
                .and_then(|r| r.map_err(|e| e.to_string()));
            match fetched {
                Ok(keys) => {
                    state.keys = Some(keys);
                    state.fetched_at = Some(Instant::now());
                    state.failures = 0;
                    state.retry_at = None;
                }
                Err(e) => {
                    state.failures += 1;
                    let wait = FIRST_BACKOFF.saturating_mul(1 << (state.failures - 1).min(16)).min(MAX_BACKOFF);
                    state.retry_at = Some(Instant::now() + wait);
                    // Keep serving cached keys through a provider outage.
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, cached = state.keys.is_some(),
                        "JWKS refresh failed");
                }
            }
        }
        if state.keys.is_none() {
            return Err(ApiError::unavailable("the identity provider's key set"));
        }
        let jwk = state.keys.as_ref().and_then(|k| k.find(kid)).ok_or_else(invalid_user_token)?;
        DecodingKey::from_jwk(jwk).map_err(|_| invalid_user_token())
    }
}

/// The one answer for any user token that does not verify: what failed is logged, not told.
pub(super) fn invalid_user_token() -> ApiError {
    ApiError::unauthorized("the user token is invalid or expired")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback port nothing listens on.
    fn closed_url() -> String {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        format!("http://127.0.0.1:{port}/jwks.json")
    }

    #[tokio::test]
    async fn a_failed_first_fetch_backs_off_instead_of_retrying_on_every_request() {
        // GIVEN a provider that cannot be reached
        let cache = JwksCache::new(closed_url());
        // WHEN two requests arrive back to back
        assert_eq!(cache.key("k1").await.err().unwrap().status, 503);
        assert_eq!(cache.key("k1").await.err().unwrap().status, 503);
        // THEN only the first one tried the network
        assert_eq!(cache.state.lock().await.attempts, 1);
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_serving_the_cached_keys() {
        // GIVEN keys fetched long ago (stale) and a provider now down
        let cache = JwksCache::new(closed_url());
        let jwks =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/jwks/jwks.json")).unwrap();
        let keys: JwkSet = serde_json::from_str(&jwks).unwrap();
        let kid = keys.keys[0].common.key_id.clone().unwrap();
        {
            let mut state = cache.state.lock().await;
            state.keys = Some(keys);
            state.fetched_at = Some(Instant::now() - JWKS_MAX_AGE - Duration::from_secs(1));
        }
        // WHEN requests need the key; THEN the cached key answers, and the refresh is tried once
        let started = Instant::now();
        assert!(cache.key(&kid).await.is_ok());
        assert!(cache.key(&kid).await.is_ok());
        assert_eq!(cache.state.lock().await.attempts, 1);
        assert!(started.elapsed() < FETCH_BUDGET + Duration::from_secs(1));
    }
}
