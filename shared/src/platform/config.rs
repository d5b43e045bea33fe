//! Configuration read from the environment once, at cold start.
//!
//! Guarantees: every setting is validated before the function serves a request, and a
//! missing or malformed one produces a [`ConfigError`] whose message names the variable
//! and says what is wrong with it — never its value, which may be a secret.

use std::str::FromStr;
use std::time::Duration;

/// A setting that is missing or malformed. Displays as one line, e.g.
/// `PARLEY_JWT_SECRET is not set`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} {problem}")]
pub struct ConfigError {
    pub name: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(name: &str, problem: impl Into<String>) -> Self {
        Self { name: name.to_owned(), problem: problem.into() }
    }
}

/// Where settings come from: the process environment in every real run, a map in unit
/// tests (so tests never mutate the process-global environment).
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Source for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).cloned()
    }
}

/// A required, non-empty setting.
pub fn required(src: &impl Source, name: &str) -> Result<String, ConfigError> {
    match src.get(name) {
        Some(v) if !v.trim().is_empty() => Ok(v),
        Some(_) => Err(ConfigError::new(name, "is empty")),
        None => Err(ConfigError::new(name, "is not set")),
    }
}

/// An optional setting; empty counts as unset.
pub fn optional(src: &impl Source, name: &str) -> Option<String> {
    src.get(name).filter(|v| !v.trim().is_empty())
}

/// An optional setting parsed with `FromStr`, falling back to `default` when unset.
pub fn parsed_or<T: FromStr>(src: &impl Source, name: &str, default: T) -> Result<T, ConfigError> {
    match optional(src, name) {
        None => Ok(default),
        Some(v) => {
            v.trim().parse().map_err(|_| ConfigError::new(name, format!("is not a valid {}", short_type_name::<T>())))
        }
    }
}

/// A duration given in whole milliseconds (`PARLEY_DB_CONNECT_TIMEOUT_MS=2000`).
pub fn millis_or(src: &impl Source, name: &str, default: Duration) -> Result<Duration, ConfigError> {
    let ms: u64 = parsed_or(src, name, default.as_millis() as u64)?;
    if ms == 0 {
        return Err(ConfigError::new(name, "must be greater than zero"));
    }
    Ok(Duration::from_millis(ms))
}

/// A secret used as an HMAC key: required, and at least 32 bytes so it cannot be guessed.
pub fn secret(src: &impl Source, name: &str) -> Result<Vec<u8>, ConfigError> {
    let v = required(src, name)?;
    if v.len() < 32 {
        return Err(ConfigError::new(name, "must be at least 32 bytes long"));
    }
    Ok(v.into_bytes())
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

/// Prints the one-line reason and exits non-zero. Used by every `main.rs` when its state
/// cannot be built, so a misconfigured deploy fails its first init loudly and clearly.
pub fn exit_on_error<T>(function: &str, result: Result<T, ConfigError>) -> T {
    match result {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{function}: configuration error: {e}");
            std::process::exit(78) // EX_CONFIG
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_missing_required_setting_is_named() {
        // GIVEN an empty environment WHEN a required setting is read
        let err = required(&env(&[]), "PARLEY_X").unwrap_err();
        // THEN the error names it in one line
        assert_eq!(err.to_string(), "PARLEY_X is not set");
    }

    #[test]
    fn an_empty_setting_is_rejected() {
        let err = required(&env(&[("PARLEY_X", "  ")]), "PARLEY_X").unwrap_err();
        assert_eq!(err.to_string(), "PARLEY_X is empty");
    }

    #[test]
    fn a_malformed_number_is_named_without_its_value() {
        let err = parsed_or(&env(&[("PARLEY_N", "abc")]), "PARLEY_N", 2u32).unwrap_err();
        assert_eq!(err.to_string(), "PARLEY_N is not a valid u32");
    }

    #[test]
    fn an_unset_optional_number_takes_its_default() {
        assert_eq!(parsed_or(&env(&[]), "PARLEY_N", 7u32).unwrap(), 7);
        assert_eq!(parsed_or(&env(&[("PARLEY_N", "9")]), "PARLEY_N", 7u32).unwrap(), 9);
    }

    #[test]
    fn a_short_secret_is_refused_without_printing_it() {
        let err = secret(&env(&[("PARLEY_S", "hunter2")]), "PARLEY_S").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        assert_eq!(err.name, "PARLEY_S");
    }

    #[test]
    fn zero_millis_is_refused() {
        assert!(millis_or(&env(&[("PARLEY_T", "0")]), "PARLEY_T", Duration::from_secs(1)).is_err());
    }
}
