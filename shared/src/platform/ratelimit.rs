//! Per-caller, per-route rate limits in DynamoDB.
//!
//! Guarantees:
//! - one atomic conditional `UpdateItem` per check (fixed windows: the counter's key
//!   names the window, `ADD` increments it only while it is below the limit), so concurrent
//!   Lambda instances share one count and never over-admit;
//! - every item carries `expires_at` for TTL, and correctness never waits on TTL: a new
//!   window is a new key, so a late-deleted item is never read again;
//! - over the limit → 429 problem+json with `Retry-After` (seconds to the window's end);
//! - when DynamoDB cannot be reached the limiter does what its [`FailMode`] says, and logs
//!   it: chat fails **open** (a limiter outage must not take chat down; conversation
//!   size limits and API Gateway throttling still bound abuse), signing keys fail
//!   **closed**.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use crate::platform::config::{self, ConfigError, Source};
use crate::platform::error::ApiError;
use crate::platform::identity::Caller;

/// `max` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

impl Limit {
    pub const fn per_minute(max: u32) -> Self {
        Self { max, window: Duration::from_secs(60) }
    }

    /// Reads `NAME` as `<max>/<seconds>s` (e.g. `20/60s`), or `default` when unset.
    pub fn from_env(src: &impl Source, name: &str, default: Limit) -> Result<Self, ConfigError> {
        match config::optional(src, name) {
            Some(v) => Self::parse(name, &v),
            None => Ok(default),
        }
    }

    /// Reads `NAME` as named limits, `<name>:<max>/<seconds>s` comma-separated (e.g.
    /// `plus:300/60s,pro:1000/60s`); empty when unset.
    pub fn named_from_env(src: &impl Source, name: &str) -> Result<Vec<(String, Limit)>, ConfigError> {
        let Some(v) = config::optional(src, name) else { return Ok(Vec::new()) };
        v.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|entry| {
                let (key, limit) = entry
                    .split_once(':')
                    .ok_or_else(|| ConfigError::new(name, "must list <name>:<max>/<seconds>s, comma-separated"))?;
                Ok((key.trim().to_owned(), Self::parse(name, limit)?))
            })
            .collect()
    }

    fn parse(name: &str, v: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::new(name, "must look like <max>/<seconds>s, e.g. 20/60s");
        let (max, secs) = v.trim().split_once('/').ok_or_else(bad)?;
        let max: u32 = max.trim().parse().map_err(|_| bad())?;
        let secs: u64 = secs.trim().strip_suffix('s').ok_or_else(bad)?.parse().map_err(|_| bad())?;
        if max == 0 || secs == 0 {
            return Err(ConfigError::new(name, "must allow at least 1 request in at least 1 second"));
        }
        Ok(Self { max, window: Duration::from_secs(secs) })
    }
}

/// Different limits for anonymous visitors and signed-in users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallerLimits {
    pub anonymous: Limit,
    pub user: Limit,
}

impl CallerLimits {
    /// Reads `<PREFIX>_ANONYMOUS` and `<PREFIX>_USER`.
    pub fn from_env(src: &impl Source, prefix: &str, default: CallerLimits) -> Result<Self, ConfigError> {
        Ok(Self {
            anonymous: Limit::from_env(src, &format!("{prefix}_ANONYMOUS"), default.anonymous)?,
            user: Limit::from_env(src, &format!("{prefix}_USER"), default.user)?,
        })
    }
}

/// What to do when DynamoDB cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Let the request through (logged as a warning).
    Open,
    /// Refuse it with 503.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed {
        remaining: u32,
    },
    Limited {
        retry_after: Duration,
    },
    /// DynamoDB did not answer; the request was let through ([`FailMode::Open`]).
    Unchecked,
}

#[derive(Clone)]
pub struct RateLimiter {
    client: aws_sdk_dynamodb::Client,
    table: String,
    fail: FailMode,
}

impl RateLimiter {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>, fail: FailMode) -> Self {
        Self { client, table: table.into(), fail }
    }

    /// Counts one request of `key` on `route` against `limit`.
    pub async fn check(&self, route: &str, key: &str, limit: Limit) -> Result<Decision, ApiError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let window = limit.window.as_secs().max(1);
        let start = now.as_secs() / window * window;
        let end = start + window;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("rl#{route}#{key}#{start}")))
            .update_expression("ADD #count :one SET expires_at = if_not_exists(expires_at, :expires)")
            .condition_expression("attribute_not_exists(pk) OR #count < :max")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":max", AttributeValue::N(limit.max.to_string()))
            // Kept one window past its end, then TTL may remove it whenever it likes.
            .expression_attribute_values(":expires", AttributeValue::N((end + window).to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let count: u32 = out
                    .attributes()
                    .and_then(|a| a.get("count"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(limit.max);
                Ok(Decision::Allowed { remaining: limit.max.saturating_sub(count) })
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                let retry_after = Duration::from_secs(end).saturating_sub(now).max(Duration::from_secs(1));
                Ok(Decision::Limited { retry_after })
            }
            Err(e) => {
                let cause = crate::platform::aws::describe(&e);
                match self.fail {
                    FailMode::Open => {
                        tracing::warn!(route, error = %cause, "rate limiter unavailable; failing open");
                        Ok(Decision::Unchecked)
                    }
                    FailMode::Closed => {
                        tracing::error!(route, error = %cause, "rate limiter unavailable; failing closed");
                        Err(ApiError::unavailable("the rate limiter"))
                    }
                }
            }
        }
    }

    /// 429 when `caller` is over its limit on `route`.
    pub async fn enforce(&self, route: &str, caller: &Caller, limits: &CallerLimits) -> Result<(), ApiError> {
        let limit = if caller.user_id.is_some() { limits.user } else { limits.anonymous };
        self.enforce_limit(route, caller, limit).await
    }

    /// 429 when `caller` is over `limit` on `route` (a limit the route chose for this
    /// caller, e.g. by plan).
    pub async fn enforce_limit(&self, route: &str, caller: &Caller, limit: Limit) -> Result<(), ApiError> {
        let caller = caller.require_any()?;
        match self.check(route, &caller.key(), limit).await? {
            Decision::Allowed { .. } | Decision::Unchecked => Ok(()),
            Decision::Limited { retry_after } => Err(too_many(limit, retry_after)),
        }
    }
}

impl RateLimiter {
    /// 429 when the source address (`requestContext.http.sourceIp`, from
    /// [`crate::platform::http::source_ip`]; never a client header) is over `limit` on
    /// `route`. Counts every caller it is given; the routes call it for anonymous callers,
    /// whose fresh sessions are free to mint, so a per-session limit alone bounds nothing.
    /// A request without a source address (in-process calls; API Gateway always sets it)
    /// is not counted.
    pub async fn enforce_address(&self, route: &str, source_ip: Option<&str>, limit: Limit) -> Result<(), ApiError> {
        let Some(ip) = source_ip else { return Ok(()) };
        match self.check(route, &format!("addr:{ip}"), limit).await? {
            Decision::Allowed { .. } | Decision::Unchecked => Ok(()),
            Decision::Limited { retry_after } => Err(too_many(limit, retry_after)),
        }
    }
}

fn too_many(limit: Limit, retry_after: Duration) -> ApiError {
    let secs = retry_after.as_secs().max(1);
    ApiError::new(
        http::StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        "Too many requests",
        format!("the limit is {} requests per {} s; retry in {secs} s", limit.max, limit.window.as_secs()),
    )
    .with_header(http::header::RETRY_AFTER, secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(k: &str, v: &str) -> HashMap<String, String> {
        HashMap::from([(k.to_owned(), v.to_owned())])
    }

    #[test]
    fn a_limit_reads_as_max_per_seconds() {
        let l = Limit::from_env(&env("L", "5/2s"), "L", Limit::per_minute(1)).unwrap();
        assert_eq!(l, Limit { max: 5, window: Duration::from_secs(2) });
    }

    #[test]
    fn an_unset_limit_is_the_default() {
        assert_eq!(Limit::from_env(&HashMap::new(), "L", Limit::per_minute(20)).unwrap(), Limit::per_minute(20));
    }

    #[test]
    fn a_malformed_limit_is_named() {
        for bad in ["20", "20/60", "x/60s", "0/60s", "5/0s"] {
            assert_eq!(Limit::from_env(&env("L", bad), "L", Limit::per_minute(1)).unwrap_err().name, "L", "{bad}");
        }
    }

    #[test]
    fn a_429_carries_retry_after() {
        let err = too_many(Limit::per_minute(20), Duration::from_millis(1500));
        assert_eq!(err.status, 429);
        assert_eq!(err.headers[0], (http::header::RETRY_AFTER, "1".to_owned()));
    }
}
