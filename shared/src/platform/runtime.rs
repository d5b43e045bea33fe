//! Cold-start wiring shared by every `main.rs`.
//!
//! Guarantees: telemetry is initialised first; the state is built once, before the first
//! event; a configuration error exits the process with one line naming the setting (Lambda
//! reports it as an init failure) instead of serving broken requests.

use crate::platform::config::ConfigError;

/// Initialises logging and builds the function's state, or exits naming the bad setting.
pub async fn start<S>(function: &'static str, build: impl AsyncFnOnce() -> Result<S, ConfigError>) -> S {
    crate::platform::telemetry::init();
    crate::platform::config::exit_on_error(function, build().await)
}
