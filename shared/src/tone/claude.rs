//! Tone analysis by Anthropic's Claude (the Messages API), used when an API key is set.
//!
//! Guarantees: personal data is redacted ([`crate::tone::redact`]) before the text leaves Parley;
//! every call has a timeout and bounded retries on 429/5xx honouring `retry-after`
//! ([`crate::platform::outbound`]); the model's answer must match a strict JSON schema — anything else
//! (prose, fences, unknown fields, a level that contradicts `is_hostile`, a quoted indicator
//! not in the message) is a provider error, never a guess; each call reports its token
//! usage and estimated cost. Callers fall back to the local analyzer on any error.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::platform::config::{self, ConfigError, Source};
use crate::platform::outbound::{self, OutboundError};
use crate::platform::secrets::SecretSetting;
use crate::tone::analysis::{Analysis, ConflictLevel, Indicator, IndicatorKind};

pub const ANTHROPIC_VERSION: &str = "2023-06-01";

#[derive(Debug, Clone)]
pub struct ClaudeSettings {
    /// `PARLEY_ANTHROPIC_API_KEY`, or fetched from `PARLEY_ANTHROPIC_API_KEY_SECRET_ARN` on
    /// first use. Its `Debug` shows where it comes from, never the key.
    pub api_key: SecretSetting<String>,
    pub base_url: String,
    pub model: String,
    pub timeout: Duration,
    pub max_tokens: u32,
    /// US dollars per million input / output tokens, for cost estimates.
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
    /// Spend per calendar month (UTC) after which the local analyzer answers.
    pub monthly_budget_usd: f64,
}

impl ClaudeSettings {
    /// `None` unless `PARLEY_ANTHROPIC_API_KEY` (or `…_SECRET_ARN`) is set. Also reads `PARLEY_ANTHROPIC_BASE_URL`,
    /// `_MODEL`, `_TIMEOUT_MS`, `_MAX_TOKENS`, `_INPUT_USD_PER_MTOK`, `_OUTPUT_USD_PER_MTOK` and
    /// `_MONTHLY_BUDGET_USD`.
    pub fn from_env(src: &impl Source) -> Result<Option<Self>, ConfigError> {
        let key = |v: &str| Ok(v.trim().to_owned());
        let Some(api_key) =
            SecretSetting::optional(src, "PARLEY_ANTHROPIC_API_KEY", "PARLEY_ANTHROPIC_API_KEY_SECRET_ARN", key)?
        else {
            return Ok(None);
        };
        let base_url =
            config::optional(src, "PARLEY_ANTHROPIC_BASE_URL").unwrap_or_else(|| "https://api.anthropic.com".into());
        let local = base_url.starts_with("http://127.0.0.1") || base_url.starts_with("http://localhost");
        if !base_url.starts_with("https://") && !local {
            return Err(ConfigError::new("PARLEY_ANTHROPIC_BASE_URL", "must be an https:// URL"));
        }
        let settings = Self {
            api_key,
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: config::optional(src, "PARLEY_ANTHROPIC_MODEL").unwrap_or_else(|| "claude-haiku-4-5".into()),
            timeout: config::millis_or(src, "PARLEY_ANTHROPIC_TIMEOUT_MS", Duration::from_secs(4))?,
            max_tokens: config::parsed_or(src, "PARLEY_ANTHROPIC_MAX_TOKENS", 512)?,
            input_usd_per_mtok: config::parsed_or(src, "PARLEY_ANTHROPIC_INPUT_USD_PER_MTOK", 1.0)?,
            output_usd_per_mtok: config::parsed_or(src, "PARLEY_ANTHROPIC_OUTPUT_USD_PER_MTOK", 5.0)?,
            monthly_budget_usd: config::parsed_or(src, "PARLEY_ANTHROPIC_MONTHLY_BUDGET_USD", 50.0)?,
        };
        if settings.max_tokens == 0 || settings.monthly_budget_usd < 0.0 {
            return Err(ConfigError::new("PARLEY_ANTHROPIC_MAX_TOKENS", "and the budget must be positive"));
        }
        Ok(Some(settings))
    }
}

/// Tokens a call used and what they cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_micro_usd: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ClaudeError {
    #[error(transparent)]
    Call(#[from] OutboundError),
    #[error("the provider's answer is not a valid verdict: {0}")]
    Invalid(String),
}

#[derive(Clone)]
pub struct ClaudeClient {
    settings: ClaudeSettings,
}

const SYSTEM: &str = "You review chat messages between people for hostility. Answer with ONE JSON object and \
nothing else: {\"is_hostile\": bool, \"conflict_level\": \"low\"|\"medium\"|\"high\", \"indicators\": \
[{\"kind\": \"insult\"|\"profanity\"|\"threat\"|\"contempt\"|\"blame\"|\"absolute\"|\"shouting\"|\"punctuation\"|\"name_calling\", \
\"text\": <exact quote from the message>}], \"neutral_rewrite\": string or null}. is_hostile is true exactly when \
conflict_level is high. neutral_rewrite is a calm version keeping the sender's point, given when the level is \
medium or high, else null. Messages mentioning a hard topic calmly are low.";

#[derive(Deserialize)]
struct MessagesResponse {
    content: Vec<ContentBlock>,
    usage: ResponseUsage,
}

#[derive(Deserialize)]
struct ContentBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct ResponseUsage {
    input_tokens: u64,
    output_tokens: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Verdict {
    is_hostile: bool,
    conflict_level: ConflictLevel,
    indicators: Vec<QuotedIndicator>,
    neutral_rewrite: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotedIndicator {
    kind: IndicatorKind,
    text: String,
}

impl ClaudeClient {
    pub fn new(settings: ClaudeSettings) -> Self {
        Self { settings }
    }

    pub fn settings(&self) -> &ClaudeSettings {
        &self.settings
    }

    /// Analyses `text` (redacted before sending) with `api_key` (from
    /// [`ClaudeSettings::api_key`]). Spans are positions in `text`.
    pub async fn analyze(&self, text: &str, api_key: &str) -> Result<(Analysis, Usage), ClaudeError> {
        let redacted = crate::tone::redact::redact(text);
        let s = &self.settings;
        let body = json!({
            "model": s.model,
            "max_tokens": s.max_tokens,
            "system": SYSTEM,
            "messages": [{"role": "user", "content": redacted}],
        });
        let url = format!("{}/v1/messages", s.base_url);
        let resp = outbound::send_with_retry("anthropic", |c| {
            c.post(&url)
                .timeout(s.timeout)
                .header("x-api-key", api_key)
                .header("anthropic-version", ANTHROPIC_VERSION)
                .json(&body)
        })
        .await?;
        let bytes = resp.bytes().await.map_err(|e| ClaudeError::Invalid(format!("unreadable body: {e}")))?;
        let parsed: MessagesResponse = serde_json::from_slice(&bytes)
            .map_err(|e| ClaudeError::Invalid(format!("not a Messages API response ({})", describe_json_error(&e))))?;
        let usage = Usage {
            input_tokens: parsed.usage.input_tokens,
            output_tokens: parsed.usage.output_tokens,
            cost_micro_usd: (parsed.usage.input_tokens as f64 * s.input_usd_per_mtok
                + parsed.usage.output_tokens as f64 * s.output_usd_per_mtok)
                .ceil() as u64,
        };
        let answer = match parsed.content.as_slice() {
            [block] if block.kind == "text" => block.text.trim(),
            _ => return Err(ClaudeError::Invalid("expected exactly one text block".into())),
        };
        Ok((verdict_to_analysis(answer, text)?, usage))
    }
}

/// Where and how JSON failed, without quoting it: serde's messages can quote the model's
/// output, which can echo the user's text, and this ends up in logs.
fn describe_json_error(e: &serde_json::Error) -> String {
    format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column())
}

/// Checks the model's JSON and turns it into an [`Analysis`] whose spans point into `text`.
fn verdict_to_analysis(answer: &str, text: &str) -> Result<Analysis, ClaudeError> {
    let v: Verdict = serde_json::from_str(answer).map_err(|e| ClaudeError::Invalid(describe_json_error(&e)))?;
    if v.is_hostile != (v.conflict_level == ConflictLevel::High) {
        return Err(ClaudeError::Invalid("is_hostile contradicts conflict_level".into()));
    }
    let needs_rewrite = v.conflict_level != ConflictLevel::Low;
    match &v.neutral_rewrite {
        Some(r) if needs_rewrite && !r.trim().is_empty() => {}
        None if !needs_rewrite => {}
        _ => {
            return Err(ClaudeError::Invalid(
                "neutral_rewrite must be given exactly when the level is medium or high".into(),
            ));
        }
    }
    let mut indicators = Vec::with_capacity(v.indicators.len());
    for i in v.indicators {
        let Some(byte_start) = text.find(&i.text).filter(|_| !i.text.is_empty()) else {
            return Err(ClaudeError::Invalid("an indicator quotes text that is not in the message".into()));
        };
        let start = text[..byte_start].chars().count();
        let end = start + i.text.chars().count();
        indicators.push(Indicator { kind: i.kind, span: [start, end], text: i.text });
    }
    Ok(Analysis {
        is_hostile: v.is_hostile,
        conflict_level: v.conflict_level,
        indicators,
        neutral_rewrite: v.neutral_rewrite,
        score: match v.conflict_level {
            ConflictLevel::Low => 0,
            ConflictLevel::Medium => 50,
            ConflictLevel::High => 100,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_verdict_gets_spans_in_the_original_text() {
        let text = "Honestly, you idiot, pick them up at 5";
        let a = verdict_to_analysis(
            r#"{"is_hostile": true, "conflict_level": "high", "indicators": [{"kind": "name_calling", "text": "you idiot"}], "neutral_rewrite": "Please pick them up at 5."}"#,
            text,
        )
        .unwrap();
        assert_eq!(a.indicators[0].span, [10, 19]);
        assert!(a.is_hostile);
    }

    #[test]
    fn anything_off_schema_is_a_provider_error() {
        let text = "fine";
        for bad in [
            "Sure! Here is the JSON: {}",
            "```json\n{\"is_hostile\": false, \"conflict_level\": \"low\", \"indicators\": [], \"neutral_rewrite\": null}\n```",
            r#"{"is_hostile": false, "conflict_level": "low", "indicators": [], "neutral_rewrite": null, "confidence": 0.9}"#,
            r#"{"is_hostile": true, "conflict_level": "low", "indicators": [], "neutral_rewrite": null}"#,
            r#"{"is_hostile": false, "conflict_level": "medium", "indicators": [], "neutral_rewrite": null}"#,
            r#"{"is_hostile": false, "conflict_level": "calm", "indicators": [], "neutral_rewrite": null}"#,
            r#"{"is_hostile": false, "conflict_level": "low", "indicators": [{"kind": "insult", "text": "not here"}], "neutral_rewrite": null}"#,
        ] {
            assert!(verdict_to_analysis(bad, text).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_provider_error_never_quotes_the_message() {
        let err =
            verdict_to_analysis(r#"{"is_hostile": "my secret text", "conflict_level": "low"}"#, "x").err().unwrap();
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn without_a_key_there_is_no_provider() {
        assert!(ClaudeSettings::from_env(&std::collections::HashMap::new()).unwrap().is_none());
    }
}
