//! The few Twilio REST calls Parley makes — Verify v2 (start, check) and Messages (create) —
//! hand-written over the workspace's HTTP client because no maintained Rust SDK exists.
//!
//! Guarantees: Basic auth with the account SID and auth token, form-encoded bodies, base
//! URLs from settings (so the local stub stands in); every call goes through
//! [`outbound::client`](crate::platform::outbound::client) (connect and total timeouts) and
//! is retried with backoff only on 429, 5xx and failures to connect (a request that may
//! have reached Twilio is not blindly repeated otherwise); Twilio's JSON error object
//! (`code`, `message`) comes back as [`TwilioError::Api`] for the caller to map. Nothing
//! here logs a number or a message body.

use std::time::Duration;

use serde::Deserialize;

use crate::platform::config::{self, ConfigError, Source};
use crate::platform::outbound;
use crate::platform::secrets::SecretSetting;

const ATTEMPTS: u32 = 3;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(2);

/// Twilio account settings (`TWILIO_*`).
#[derive(Clone)]
pub struct TwilioConfig {
    pub account_sid: String,
    /// `TWILIO_AUTH_TOKEN`, or its secret (`PARLEY_TWILIO_AUTH_TOKEN_SECRET_ARN`); `None`
    /// leaves SMS off (every call is "unavailable").
    pub auth_token: Option<SecretSetting<String>>,
    pub verify_service_sid: String,
    /// The sender: a phone number (`+1…`) or a Messaging Service SID (`MG…`).
    pub from: String,
    pub api_base: String,
    pub verify_base: String,
}

impl std::fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioConfig").field("account_sid", &self.account_sid).finish_non_exhaustive()
    }
}

impl TwilioConfig {
    /// Reads `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN` (or `PARLEY_TWILIO_AUTH_TOKEN_SECRET_ARN`,
    /// fetched on first use), `TWILIO_VERIFY_SERVICE_SID`, `TWILIO_FROM`, and optionally
    /// `TWILIO_API_BASE_URL` / `TWILIO_VERIFY_BASE_URL`.
    pub fn from_env(src: &impl Source) -> Result<Self, ConfigError> {
        let base = |name: &str, default: &str| -> Result<String, ConfigError> {
            let v = config::optional(src, name).unwrap_or_else(|| default.to_owned());
            if !(v.starts_with("https://") || v.starts_with("http://127.0.0.1") || v.starts_with("http://localhost")) {
                return Err(ConfigError::new(name, "must be an https:// URL (http only on loopback)"));
            }
            Ok(v.trim_end_matches('/').to_owned())
        };
        Ok(Self {
            account_sid: config::required(src, "TWILIO_ACCOUNT_SID")?,
            auth_token: auth_token(src)?,
            verify_service_sid: config::required(src, "TWILIO_VERIFY_SERVICE_SID")?,
            from: config::required(src, "TWILIO_FROM")?,
            api_base: base("TWILIO_API_BASE_URL", "https://api.twilio.com")?,
            verify_base: base("TWILIO_VERIFY_BASE_URL", "https://verify.twilio.com")?,
        })
    }
}

/// Twilio's auth token: `TWILIO_AUTH_TOKEN`, or the secret `PARLEY_TWILIO_AUTH_TOKEN_SECRET_ARN`
/// names (fetched by the first request that needs it); `None` when neither is set.
pub fn auth_token(src: &impl Source) -> Result<Option<SecretSetting<String>>, ConfigError> {
    SecretSetting::optional(src, "TWILIO_AUTH_TOKEN", "PARLEY_TWILIO_AUTH_TOKEN_SECRET_ARN", |v| {
        let v = v.trim();
        if v.is_empty() { Err("is empty".to_owned()) } else { Ok(v.to_owned()) }
    })
}

/// Why a Twilio call failed.
#[derive(Debug, thiserror::Error)]
pub enum TwilioError {
    /// Twilio answered with its error object.
    #[error("Twilio answered {status} with error {code}: {message}")]
    Api { status: u16, code: u32, message: String },
    /// Unreachable, timed out, or still 429/5xx after the retries.
    #[error("Twilio is unavailable: {0}")]
    Unavailable(String),
}

impl TwilioError {
    pub fn code(&self) -> Option<u32> {
        match self {
            Self::Api { code, .. } => Some(*code),
            Self::Unavailable(_) => None,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    code: Option<u32>,
    message: Option<String>,
}

/// The parts of a Verification / VerificationCheck resource Parley reads.
#[derive(Debug, Deserialize)]
pub struct Verification {
    pub status: String,
}

/// The parts of a Message resource Parley reads.
#[derive(Debug, Deserialize)]
pub struct SentMessage {
    pub sid: String,
    pub status: String,
}

#[derive(Clone, Debug)]
pub struct Twilio {
    config: TwilioConfig,
}

impl Twilio {
    pub fn new(config: TwilioConfig) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &TwilioConfig {
        &self.config
    }

    /// Verify v2: sends a code to `to` by SMS.
    pub async fn start_verification(&self, to: &str) -> Result<Verification, TwilioError> {
        let url = format!("{}/v2/Services/{}/Verifications", self.config.verify_base, self.config.verify_service_sid);
        self.post(&url, &[("To", to), ("Channel", "sms")]).await
    }

    /// Verify v2: checks `code` for `to`; `status == "approved"` when right.
    pub async fn check_verification(&self, to: &str, code: &str) -> Result<Verification, TwilioError> {
        let url =
            format!("{}/v2/Services/{}/VerificationCheck", self.config.verify_base, self.config.verify_service_sid);
        self.post(&url, &[("To", to), ("Code", code)]).await
    }

    /// Messages: sends `body` to `to`, asking for delivery callbacks at `status_callback`.
    pub async fn send_message(&self, to: &str, body: &str, status_callback: &str) -> Result<SentMessage, TwilioError> {
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.config.api_base, self.config.account_sid);
        let from_key = if self.config.from.starts_with("MG") { "MessagingServiceSid" } else { "From" };
        self.post(
            &url,
            &[("To", to), (from_key, &self.config.from), ("Body", body), ("StatusCallback", status_callback)],
        )
        .await
    }

    async fn post<T: serde::de::DeserializeOwned>(&self, url: &str, form: &[(&str, &str)]) -> Result<T, TwilioError> {
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let token = match &self.config.auth_token {
            Some(token) => token.get().await.map_err(|e| {
                TwilioError::Unavailable(e.source.map(|s| s.to_string()).unwrap_or_else(|| "no auth token".to_owned()))
            })?,
            None => return Err(TwilioError::Unavailable("no Twilio auth token is configured".to_owned())),
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= ATTEMPTS;
            let sent = outbound::client()
                .post(url)
                .basic_auth(&self.config.account_sid, Some(token.as_str()))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "application/json")
                .body(body.clone())
                .send()
                .await;
            let resp = match sent {
                Ok(resp) => resp,
                Err(e) if !last && e.is_connect() => {
                    tokio::time::sleep(outbound::backoff(attempt)).await;
                    continue;
                }
                Err(e) => return Err(TwilioError::Unavailable(without_url(e))),
            };
            let status = resp.status();
            if status.is_success() {
                return resp.json().await.map_err(|e| TwilioError::Unavailable(without_url(e)));
            }
            let retryable = status.as_u16() == 429 || status.is_server_error();
            if retryable && !last {
                tokio::time::sleep(retry_after(&resp).unwrap_or_else(|| outbound::backoff(attempt))).await;
                continue;
            }
            let error: Option<ErrorBody> = resp.json().await.ok();
            return match error {
                Some(ErrorBody { code: Some(code), message }) => {
                    Err(TwilioError::Api { status: status.as_u16(), code, message: message.unwrap_or_default() })
                }
                _ if retryable => Err(TwilioError::Unavailable(format!("answered {status}"))),
                _ => Err(TwilioError::Api { status: status.as_u16(), code: 0, message: status.to_string() }),
            };
        }
    }
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let secs: u64 = resp.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// reqwest's error text includes the URL; ours carry only SIDs, but keep errors URL-free.
fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}
