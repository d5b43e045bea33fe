//! Structured JSON logs through `tracing`.
//!
//! Guarantees: one JSON object per line, carrying the span fields (`function`,
//! `request_id`) of the request it belongs to. What is logged is decided at each call
//! site, and the shared edges ([`crate::platform::http::serve`], [`crate::platform::identity`], [`crate::platform::db`])
//! log only route templates, statuses, ids and timings — never headers, bodies, tokens,
//! phone numbers, emails or key material. Level comes from `PARLEY_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber. Idempotent: a second call (tests, the local gateway
/// hosting many functions) keeps the first.
pub fn init() {
    let filter = EnvFilter::try_from_env("PARLEY_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .try_init();
}
