//! What every SMS function shares: its settings and the verified Twilio webhook.
//!
//! Guarantees: [`verified_webhook`] yields the form parameters only when
//! `X-Twilio-Signature` matches over the configured public URL; otherwise 403.

use super::signature;
use crate::platform::config::{self, ConfigError, Source};
use crate::platform::error::ApiError;
use crate::platform::http::Request;
use crate::platform::secrets::SecretSetting;

/// Settings every SMS function shares.
#[derive(Clone, Debug)]
pub struct SmsSettings {
    /// `PARLEY_PUBLIC_URL`: the base URL Twilio calls (and signs over), no trailing slash.
    pub public_url: String,
    /// `PARLEY_SMS_SENDING` (`on`/`off`, default on): off ends every pending row `suppressed`.
    pub sending: bool,
    /// `PARLEY_SMS_MAX_ATTEMPTS` (default 5): sends before a message is given up.
    pub max_attempts: i32,
}

impl SmsSettings {
    pub fn from_env(src: &impl Source) -> Result<Self, ConfigError> {
        let public_url = config::required(src, "PARLEY_PUBLIC_URL")?.trim_end_matches('/').to_owned();
        if !(public_url.starts_with("https://") || public_url.starts_with("http://")) {
            return Err(ConfigError::new("PARLEY_PUBLIC_URL", "must be an http(s):// URL"));
        }
        let sending = match config::optional(src, "PARLEY_SMS_SENDING").as_deref().map(str::trim) {
            None | Some("on") | Some("true") => true,
            Some("off") | Some("false") => false,
            Some(_) => return Err(ConfigError::new("PARLEY_SMS_SENDING", "must be on or off")),
        };
        let max_attempts: i32 = config::parsed_or(src, "PARLEY_SMS_MAX_ATTEMPTS", 5)?;
        if max_attempts < 1 {
            return Err(ConfigError::new("PARLEY_SMS_MAX_ATTEMPTS", "must be at least 1"));
        }
        Ok(Self { public_url, sending, max_attempts })
    }

    /// Where Twilio posts delivery status.
    pub fn status_callback_url(&self) -> String {
        format!("{}/webhooks/twilio/status", self.public_url)
    }
}

/// A verified Twilio webhook: its form parameters, once the signature over the public URL
/// (`public_url` + the request's path + its raw query) matched. 403 otherwise; 503 when no
/// auth token is configured or its secret cannot be fetched.
pub async fn verified_webhook(
    req: &Request,
    public_url: &str,
    auth_token: Option<&SecretSetting<String>>,
) -> Result<Vec<(String, String)>, ApiError> {
    let signature = req
        .headers()
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::forbidden("missing X-Twilio-Signature"))?;
    let auth_token = match auth_token {
        Some(token) => token.get().await?,
        None => return Err(ApiError::unavailable("Twilio webhooks").with_source("no Twilio auth token is configured")),
    };
    let auth_token = auth_token.as_bytes();
    let mut url = format!("{public_url}{}", req.uri().path());
    if let Some(q) = req.uri().query().filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(q);
    }
    let params = signature::form_params(req.body().as_ref());
    if !signature::verify(auth_token, &url, &params, signature) {
        tracing::warn!(path = req.uri().path(), "Twilio webhook with an invalid signature refused");
        return Err(ApiError::forbidden("invalid X-Twilio-Signature"));
    }
    Ok(params)
}

/// The first value of form parameter `name`.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}
