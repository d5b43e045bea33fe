//! Secret settings: a plain variable (the local stack) or a Secrets Manager ARN (a deployed
//! stage), resolved lazily.
//!
//! Guarantees:
//! - for a setting `PARLEY_X`, `PARLEY_X` wins when set; otherwise its ARN setting
//!   (`PARLEY_X_SECRET_ARN`; `PARLEY_ANON_TOKEN_SECRET_ARN` for `PARLEY_ANON_TOKEN_SECRET`)
//!   names the secret. Reading the configuration fetches nothing, so a cold start makes no
//!   network call for it;
//! - the first request that needs the value calls `GetSecretValue` once (concurrent requests
//!   wait for that one call) and the instance keeps `SecretString`, and what was derived
//!   from it, for an hour; after that the next request fetches again (rotation), and keeps
//!   serving the old value if that refresh fails;
//! - a failed first fetch answers that request with 503 (`ApiError::unavailable`), and the
//!   next request tries again;
//! - the value never reaches a log line or an error: `Debug` shows the setting's name and
//!   where it comes from, and errors name the setting and the service's error code only.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::platform::config::{self, ConfigError, Source};
use crate::platform::error::ApiError;

/// How long a fetched value is used before the next request fetches it again.
pub const REFRESH_AFTER: Duration = Duration::from_secs(3600);

/// Turns the secret's text into what its users need (a signing key, say), or says what is
/// wrong with it — without quoting it.
pub type Parse<T> = Arc<dyn Fn(&str) -> Result<T, String> + Send + Sync>;

/// A secret setting, cheap to clone; the value (or what `parse` made of it) is shared.
pub struct SecretSetting<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for SecretSetting<T> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

struct Inner<T> {
    name: String,
    origin: Origin<T>,
}

enum Origin<T> {
    /// Given in the environment; parsed at cold start.
    Plain(Arc<T>),
    /// Held in Secrets Manager; fetched on first use.
    Arn { arn: String, parse: Parse<T>, cached: tokio::sync::Mutex<Option<(Arc<T>, Instant)>> },
}

impl<T> fmt::Debug for SecretSetting<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = match &self.inner.origin {
            Origin::Plain(_) => "environment",
            Origin::Arn { .. } => "secrets manager",
        };
        f.debug_struct("SecretSetting").field("name", &self.inner.name).field("origin", &origin).finish()
    }
}

impl<T: Send + Sync + 'static> SecretSetting<T> {
    /// `name` (the value) or `arn_name` (its secret's ARN); `None` when neither is set.
    pub fn optional(
        src: &impl Source,
        name: &str,
        arn_name: &str,
        parse: impl Fn(&str) -> Result<T, String> + Send + Sync + 'static,
    ) -> Result<Option<Self>, ConfigError> {
        let origin = match (config::optional(src, name), config::optional(src, arn_name)) {
            (Some(value), _) => Origin::Plain(Arc::new(parse(&value).map_err(|why| ConfigError::new(name, why))?)),
            (None, Some(arn)) => {
                let arn = arn.trim().to_owned();
                if !arn.starts_with("arn:") || !arn.contains(":secretsmanager:") {
                    return Err(ConfigError::new(arn_name, "is not a Secrets Manager secret ARN"));
                }
                Origin::Arn { arn, parse: Arc::new(parse), cached: tokio::sync::Mutex::new(None) }
            }
            (None, None) => return Ok(None),
        };
        Ok(Some(Self { inner: Arc::new(Inner { name: name.to_owned(), origin }) }))
    }

    /// Like [`optional`](Self::optional), but one of the two must be set.
    pub fn required(
        src: &impl Source,
        name: &str,
        arn_name: &str,
        parse: impl Fn(&str) -> Result<T, String> + Send + Sync + 'static,
    ) -> Result<Self, ConfigError> {
        Self::optional(src, name, arn_name, parse)?
            .ok_or_else(|| ConfigError::new(name, format!("is not set (nor is {arn_name})")))
    }

    /// A value given directly (tests, and callers that build settings by hand).
    pub fn plain(name: &str, value: T) -> Self {
        Self { inner: Arc::new(Inner { name: name.to_owned(), origin: Origin::Plain(Arc::new(value)) }) }
    }

    /// The setting's name (`PARLEY_X`), for messages.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The value, fetching it first when this instance has none (or an hour-old one).
    pub async fn get(&self) -> Result<Arc<T>, ApiError> {
        let (arn, parse, cached) = match &self.inner.origin {
            Origin::Plain(value) => return Ok(value.clone()),
            Origin::Arn { arn, parse, cached } => (arn, parse, cached),
        };
        // Held across the fetch: concurrent first requests wait for one GetSecretValue.
        let mut cached = cached.lock().await;
        if let Some((value, at)) = cached.as_ref()
            && at.elapsed() < REFRESH_AFTER
        {
            return Ok(value.clone());
        }
        match fetch(arn).await.and_then(|text| parse(&text).map_err(|why| format!("its value {why}"))) {
            Ok(value) => {
                let value = Arc::new(value);
                *cached = Some((value.clone(), Instant::now()));
                tracing::info!(setting = %self.inner.name, "secret resolved");
                Ok(value)
            }
            Err(why) => match cached.as_ref() {
                // A failed refresh keeps the value this instance already has.
                Some((value, _)) => {
                    tracing::warn!(setting = %self.inner.name, error = %why, "secret refresh failed; keeping the current value");
                    Ok(value.clone())
                }
                None => Err(ApiError::unavailable("a secret this request needs")
                    .with_source(format!("{} from Secrets Manager: {why}", self.inner.name))),
            },
        }
    }
}

/// The secret's `SecretString`. Errors carry the service's error code and message, which
/// never contain the value.
async fn fetch(arn: &str) -> Result<String, String> {
    let out = client()
        .await
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| crate::platform::aws::describe(&e))?;
    out.secret_string.ok_or_else(|| "the secret has no SecretString (binary secrets are not supported)".to_owned())
}

/// One Secrets Manager client per instance, built on first use (so configuration stays
/// free of network calls and of the SDK's own set-up).
async fn client() -> &'static aws_sdk_secretsmanager::Client {
    static CLIENT: tokio::sync::OnceCell<aws_sdk_secretsmanager::Client> = tokio::sync::OnceCell::const_new();
    CLIENT
        .get_or_init(|| async { crate::platform::aws::secretsmanager(crate::platform::aws::shared_config().await) })
        .await
}

/// A secret's `SecretString` fetched now, uncached: for jobs that read a secret once per
/// run (`migrate`'s login secrets).
pub async fn fetch_once(arn: &str) -> Result<String, String> {
    fetch(arn).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn text(v: &str) -> Result<String, String> {
        Ok(v.to_owned())
    }

    #[tokio::test]
    async fn the_plain_variable_wins_over_the_arn() {
        // GIVEN both the value and an ARN
        let s = SecretSetting::required(
            &env(&[
                ("PARLEY_X", "plain-value"),
                ("PARLEY_X_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:000000000000:secret:x"),
            ]),
            "PARLEY_X",
            "PARLEY_X_SECRET_ARN",
            text,
        )
        .unwrap();
        // WHEN it is read THEN the plain value answers, with no fetch
        assert_eq!(*s.get().await.unwrap(), "plain-value");
    }

    #[test]
    fn neither_is_named_when_required() {
        let err = SecretSetting::required(&env(&[]), "PARLEY_X", "PARLEY_X_SECRET_ARN", text).unwrap_err();
        assert_eq!(err.to_string(), "PARLEY_X is not set (nor is PARLEY_X_SECRET_ARN)");
        assert!(SecretSetting::optional(&env(&[]), "PARLEY_X", "PARLEY_X_SECRET_ARN", text).unwrap().is_none());
    }

    #[test]
    fn something_that_is_not_an_arn_is_refused_at_configuration() {
        let err = SecretSetting::required(
            &env(&[("PARLEY_X_SECRET_ARN", "my-secret")]),
            "PARLEY_X",
            "PARLEY_X_SECRET_ARN",
            text,
        )
        .unwrap_err();
        assert_eq!(err.name, "PARLEY_X_SECRET_ARN");
    }

    #[test]
    fn debug_never_shows_the_value() {
        let s =
            SecretSetting::required(&env(&[("PARLEY_X", "hunter2-hunter2")]), "PARLEY_X", "PARLEY_X_SECRET_ARN", text)
                .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2") && shown.contains("PARLEY_X"), "{shown}");
    }

    #[test]
    fn a_bad_plain_value_is_a_configuration_error_without_the_value() {
        let err =
            SecretSetting::required(&env(&[("PARLEY_X", "short")]), "PARLEY_X", "PARLEY_X_SECRET_ARN", |v: &str| {
                if v.len() < 32 { Err("must be at least 32 bytes long".to_owned()) } else { Ok(()) }
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "PARLEY_X must be at least 32 bytes long");
    }
}
