//! Which analyzer answers: Claude when configured, within budget and with its breaker
//! closed; the local analyzer otherwise — and whenever Claude fails.
//!
//! Guarantees: [`ToneService::analyze`] always answers (the local analyzer needs no
//! network); the answer says which provider produced it; Claude's spend is counted per
//! calendar month (UTC) in DynamoDB, shared by all instances, and once it reaches the budget
//! the local analyzer answers until the month turns; a failing Claude trips a circuit
//! breaker shared through DynamoDB, after which no calls are made until its cool-down
//! passes; each Claude call logs and emits its tokens and estimated cost.
//!
//! Two more, from issue 13:
//! - **One deadline.** The whole provider call (every attempt and retry wait; each attempt
//!   is still bounded by `PARLEY_ANTHROPIC_TIMEOUT_MS`) must end by the invocation's
//!   deadline less `RESERVE`; running out counts as a breaker failure, and the local
//!   analyzer answers within the invocation.
//! - **The stricter level decides.** The local analyzer always runs; when Claude answers a
//!   lower level than the local analyzer (text that tells the model to say "low", say), the
//!   local analysis is the answer. An answer that breaks the schema is a bad answer to this
//!   input, not an outage: it falls back without counting against the shared breaker.

use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{Datelike, Utc};
use serde::Serialize;

use crate::platform::breaker::{Admission, BreakerSettings, CircuitBreaker};
use crate::platform::config::{self, ConfigError, Source};
use crate::tone::analysis::{Analysis, ConflictLevel};
use crate::tone::analyzer;
use crate::tone::claude::{ClaudeClient, ClaudeError, ClaudeSettings, Usage};

/// Time kept back from the invocation's deadline for the work after the tone check
/// (chat's transaction, the response).
pub const RESERVE: Duration = Duration::from_millis(1500);
/// Below this much time, Claude is not asked at all.
const MIN_PROVIDER_TIME: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Local,
    Claude,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToneResult {
    #[serde(flatten)]
    pub analysis: Analysis,
    pub provider: Provider,
}

#[derive(Clone)]
struct Remote {
    client: ClaudeClient,
    breaker: CircuitBreaker,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    /// `usage#anthropic#<endpoint>#` — spend is tracked per provider endpoint.
    spend_prefix: String,
}

#[derive(Clone)]
pub struct ToneService {
    remote: Option<Remote>,
}

impl ToneService {
    /// The local analyzer only.
    pub fn local() -> Self {
        Self { remote: None }
    }

    /// Claude when `PARLEY_ANTHROPIC_API_KEY` (or `…_SECRET_ARN`) is set (then `PARLEY_TABLE_NAME` is needed for
    /// the breaker and the budget, and `PARLEY_TONE_BREAKER_COOLDOWN_MS`,
    /// `PARLEY_TONE_BREAKER_MIN_CALLS` tune the breaker); else local only.
    pub fn from_env(src: &impl Source, aws: &crate::platform::aws::SdkConfig) -> Result<Self, ConfigError> {
        let Some(settings) = ClaudeSettings::from_env(src)? else { return Ok(Self::local()) };
        let table = config::required(src, "PARLEY_TABLE_NAME")?;
        let breaker_settings = BreakerSettings {
            cooldown: config::millis_or(src, "PARLEY_TONE_BREAKER_COOLDOWN_MS", Duration::from_secs(30))?,
            min_calls: config::parsed_or(src, "PARLEY_TONE_BREAKER_MIN_CALLS", 5)?,
            ..BreakerSettings::default()
        };
        let dynamodb = crate::platform::aws::dynamodb(aws);
        let endpoint = settings.base_url.replace(['/', ':'], "_");
        Ok(Self {
            remote: Some(Remote {
                breaker: CircuitBreaker::new(
                    dynamodb.clone(),
                    table.clone(),
                    &format!("anthropic#{endpoint}"),
                    breaker_settings,
                ),
                spend_prefix: format!("usage#anthropic#{endpoint}#"),
                client: ClaudeClient::new(settings),
                dynamodb,
                table,
            }),
        })
    }

    /// Whether Claude may be asked (a key is configured).
    pub fn uses_claude(&self) -> bool {
        self.remote.is_some()
    }

    /// Analyses `text`, finishing before `deadline` (the invocation's,
    /// [`crate::platform::http::deadline`]) less [`RESERVE`].
    pub async fn analyze(&self, text: &str, deadline: SystemTime) -> ToneResult {
        let local = ToneResult { analysis: analyzer::analyze(text), provider: Provider::Local };
        let Some(remote) = &self.remote else { return local };
        let left = deadline.duration_since(SystemTime::now()).unwrap_or_default().saturating_sub(RESERVE);
        // PARLEY_ANTHROPIC_TIMEOUT_MS bounds each attempt; this bounds them all together.
        let budget = left;
        if budget < MIN_PROVIDER_TIME {
            tracing::warn!(provider = "claude", left_ms = left.as_millis() as u64, "no time left for the provider");
            return local;
        }
        if remote.over_budget().await {
            return local;
        }
        // The key is fetched once per instance (Secrets Manager when given by ARN). Without
        // it the local analyzer answers, as for any provider trouble; it is this instance's
        // problem, not the provider's, so the shared breaker is not told.
        let until = tokio::time::Instant::now() + budget;
        let api_key = match tokio::time::timeout_at(until, remote.client.settings().api_key.get()).await {
            Ok(Ok(key)) => key,
            Ok(Err(e)) => {
                let cause = e.source.as_ref().map(|c| c.to_string()).unwrap_or_default();
                tracing::warn!(provider = "claude", error = %cause, "no API key; the local analyzer answers");
                return local;
            }
            Err(_) => {
                tracing::warn!(provider = "claude", "fetching the API key timed out; the local analyzer answers");
                return local;
            }
        };
        let admission = remote.breaker.admit().await;
        if admission == Admission::Open {
            tracing::info!(provider = "claude", "breaker open; the local analyzer answers");
            return local;
        }
        match tokio::time::timeout_at(until, remote.client.analyze(text, &api_key)).await {
            Ok(Ok((analysis, usage))) => {
                remote.breaker.record(admission, true).await;
                remote.spend(usage).await;
                let claude = ToneResult { analysis, provider: Provider::Claude };
                if local.analysis.conflict_level > claude.analysis.conflict_level {
                    tracing::info!(provider = "claude", "the local analyzer is stricter and decides");
                    return local;
                }
                claude
            }
            Ok(Err(ClaudeError::Invalid(why))) => {
                // The provider answered; the answer is bad for this input. Not an outage.
                remote.breaker.record(admission, true).await;
                tracing::warn!(provider = "claude", error = %why, "off-schema answer; the local analyzer answers");
                local
            }
            Ok(Err(e)) => {
                remote.breaker.record(admission, false).await;
                tracing::warn!(provider = "claude", error = %e, "tone provider failed; the local analyzer answers");
                local
            }
            Err(_) => {
                remote.breaker.record(admission, false).await;
                tracing::warn!(provider = "claude", budget_ms = budget.as_millis() as u64, "tone provider timed out");
                local
            }
        }
    }
}

impl Remote {
    fn month_key(&self) -> (AttributeValue, i64) {
        let now = Utc::now();
        let next_month = if now.month() == 12 { (now.year() + 1, 1) } else { (now.year(), now.month() + 1) };
        let expires = chrono::NaiveDate::from_ymd_opt(next_month.0, next_month.1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc().timestamp() + 35 * 24 * 3600)
            .unwrap_or(now.timestamp());
        (AttributeValue::S(format!("{}{}", self.spend_prefix, now.format("%Y-%m"))), expires)
    }

    /// Whether this month's spend has reached the budget. Unknown (DynamoDB down) counts as
    /// within budget: the breaker and the provider's own limits still bound spend.
    async fn over_budget(&self) -> bool {
        let budget = (self.client.settings().monthly_budget_usd * 1_000_000.0) as u64;
        let (key, _) = self.month_key();
        let spent: u64 = match self.dynamodb.get_item().table_name(&self.table).key("pk", key).send().await {
            Ok(out) => out
                .item
                .and_then(|i| i.get("micro_usd").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()))
                .unwrap_or(0),
            Err(e) => {
                tracing::warn!(error = %crate::platform::aws::describe(&e), "tone budget unreadable; assuming within budget");
                0
            }
        };
        if spent >= budget {
            tracing::info!(
                provider = "claude",
                spent_micro_usd = spent,
                "monthly budget reached; the local analyzer answers"
            );
        }
        spent >= budget
    }

    async fn spend(&self, usage: Usage) {
        tracing::info!(
            provider = "claude",
            input_tokens = usage.input_tokens,
            output_tokens = usage.output_tokens,
            cost_micro_usd = usage.cost_micro_usd,
            "tone provider call"
        );
        crate::platform::metrics::emit("tone", "ToneProviderCostMicroUsd", usage.cost_micro_usd as f64, "Count");
        let (key, expires) = self.month_key();
        let result = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", key)
            .update_expression("ADD micro_usd :cost, calls :one SET expires_at = if_not_exists(expires_at, :expires)")
            .expression_attribute_values(":cost", AttributeValue::N(usage.cost_micro_usd.to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":expires", AttributeValue::N(expires.to_string()))
            .return_values(ReturnValue::None)
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %crate::platform::aws::describe(&e), "tone spend could not be recorded");
        }
    }
}

/// What a deployment does with a human message at each conflict level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TonePolicy {
    /// At or above: stored, with a `tone_warning` in the response.
    pub warn_at: Option<ConflictLevel>,
    /// At or above: refused with 422 (nothing stored).
    pub refuse_at: Option<ConflictLevel>,
}

/// The decision for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Store,
    Warn,
    Refuse,
}

impl TonePolicy {
    /// `PARLEY_TONE_WARN_AT` (default `medium`) and `PARLEY_TONE_REFUSE_AT` (default `high`);
    /// each `low`, `medium`, `high` or `never`.
    pub fn from_env(src: &impl Source) -> Result<Self, ConfigError> {
        let level = |name: &str, default: Option<ConflictLevel>| -> Result<_, ConfigError> {
            match config::optional(src, name).as_deref().map(str::trim) {
                None => Ok(default),
                Some("low") => Ok(Some(ConflictLevel::Low)),
                Some("medium") => Ok(Some(ConflictLevel::Medium)),
                Some("high") => Ok(Some(ConflictLevel::High)),
                Some("never") => Ok(None),
                Some(_) => Err(ConfigError::new(name, "must be low, medium, high or never")),
            }
        };
        Ok(Self {
            warn_at: level("PARLEY_TONE_WARN_AT", Some(ConflictLevel::Medium))?,
            refuse_at: level("PARLEY_TONE_REFUSE_AT", Some(ConflictLevel::High))?,
        })
    }

    pub fn decide(&self, level: ConflictLevel) -> Decision {
        if self.refuse_at.is_some_and(|r| level >= r) {
            Decision::Refuse
        } else if self.warn_at.is_some_and(|w| level >= w) {
            Decision::Warn
        } else {
            Decision::Store
        }
    }
}

impl ToneResult {
    /// 422 for a refused message: the indicators and the suggested rewrite ride along as
    /// problem extension members.
    pub fn refusal(&self) -> crate::ApiError {
        crate::ApiError::new(
            http::StatusCode::UNPROCESSABLE_ENTITY,
            "hostile-message",
            "Message refused",
            "this message reads as hostile and was not sent; the suggested rewrite keeps your point",
        )
        .with_extension("conflict_level", serde_json::json!(self.analysis.conflict_level))
        .with_extension("indicators", serde_json::json!(self.analysis.indicators))
        .with_extension("neutral_rewrite", serde_json::json!(self.analysis.neutral_rewrite))
        .with_extension("provider", serde_json::json!(self.provider))
    }

    /// What is stored with the message (`conversation_messages.tone`).
    pub fn stored(&self) -> serde_json::Value {
        serde_json::json!({
            "conflict_level": self.analysis.conflict_level,
            "is_hostile": self.analysis.is_hostile,
            "indicators": self.analysis.indicators,
            "provider": self.provider,
        })
    }
}
