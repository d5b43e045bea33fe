//! Outbound HTTPS to third parties (identity provider keys now; Stripe, Twilio and
//! Anthropic later), through one client per process.
//!
//! Guarantees: the client is built once, on first use (never at init, so cold starts stay
//! off the network); every call has a connect and a total timeout; 429 and 5xx answers and
//! transport errors are retried a bounded number of times with exponential backoff and
//! jitter, honouring `Retry-After` up to a cap; the final failure is an error the caller
//! turns into a clear 503.

use std::sync::OnceLock;
use std::time::Duration;

use serde::de::DeserializeOwned;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(5);
const ATTEMPTS: u32 = 3;
const BASE_BACKOFF: Duration = Duration::from_millis(100);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("request to {host} failed: {source}")]
    Transport { host: String, source: reqwest::Error },
    #[error("{host} answered {status}")]
    Status { host: String, status: u16 },
    #[error("{host} answered with an unexpected body: {source}")]
    Body { host: String, source: reqwest::Error },
}

/// The process-wide client.
pub fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TOTAL_TIMEOUT)
            .user_agent(concat!("parley/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client configuration is static and valid")
    })
}

/// Sends the request `build` makes, retrying 429/5xx and transport errors with backoff.
/// `build` is called once per attempt, so bodies are rebuilt rather than cloned.
pub async fn send_with_retry(
    host: &str,
    build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, OutboundError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let last = attempt >= ATTEMPTS;
        match build(client()).send().await {
            Ok(resp) if resp.status().is_success() => return Ok(resp),
            Ok(resp) if !last && (resp.status() == 429 || resp.status().is_server_error()) => {
                tokio::time::sleep(retry_after(&resp).unwrap_or_else(|| backoff(attempt))).await;
            }
            Ok(resp) => return Err(OutboundError::Status { host: host.to_owned(), status: resp.status().as_u16() }),
            Err(e) if !last && !e.is_builder() => tokio::time::sleep(backoff(attempt)).await,
            Err(source) => return Err(OutboundError::Transport { host: host.to_owned(), source }),
        }
    }
}

/// Exponential backoff with full jitter: a random wait in [0, base·2^(attempt-1)).
pub fn backoff(attempt: u32) -> Duration {
    let cap = BASE_BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(10));
    // Jitter from the clock's low bits is enough to de-synchronise retries; no crypto needed.
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    cap.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let secs: u64 = resp.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// GET a JSON document.
pub async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, OutboundError> {
    let host = reqwest::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    let resp = send_with_retry(&host, |c| c.get(url)).await?;
    resp.json().await.map_err(|source| OutboundError::Body { host, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_its_exponential_cap() {
        for attempt in 1..6 {
            assert!(backoff(attempt) < BASE_BACKOFF * (1 << (attempt - 1)));
        }
    }
}
