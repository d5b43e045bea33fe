//! A circuit breaker shared by every Lambda instance through DynamoDB.
//!
//! Guarantees:
//! - **closed**: calls go through; outcomes are counted per fixed window
//!   (`cb#<name>#w#<window>`, atomic `ADD`); once a window has at least `min_calls` and
//!   more than `error_rate` of them failed, the breaker **opens** for `cooldown`;
//! - **open**: no call is made (the caller falls back) until the cool-down passes;
//! - **half-open**: after the cool-down exactly one instance wins a conditional update and
//!   makes a probe call; success closes the breaker, failure opens it for another cool-down;
//! - every item has a TTL and every read checks times itself (TTL deletes late);
//! - if DynamoDB itself cannot answer, the breaker lets calls through (the caller has a
//!   fallback for failed calls anyway) and logs it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    pub window: Duration,
    pub min_calls: u32,
    /// Opens above this share of failures (0.5 = 50 %).
    pub error_rate: f64,
    pub cooldown: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self { window: Duration::from_secs(60), min_calls: 5, error_rate: 0.5, cooldown: Duration::from_secs(30) }
    }
}

/// What the breaker allows for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Call normally.
    Closed,
    /// Call as the half-open probe.
    Probe,
    /// Do not call.
    Open,
}

#[derive(Clone)]
pub struct CircuitBreaker {
    client: aws_sdk_dynamodb::Client,
    table: String,
    name: String,
    settings: BreakerSettings,
}

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl CircuitBreaker {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        name: &str,
        settings: BreakerSettings,
    ) -> Self {
        Self { client, table: table.into(), name: name.to_owned(), settings }
    }

    fn state_key(&self) -> AttributeValue {
        AttributeValue::S(format!("cb#{}#state", self.name))
    }

    /// May a call be made now?
    pub async fn admit(&self) -> Admission {
        let now_ms = now().as_millis();
        let state = match self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", self.state_key())
            .consistent_read(true)
            .send()
            .await
        {
            Ok(out) => out.item.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(breaker = %self.name, error = %crate::platform::aws::describe(&e), "breaker state unreadable; allowing the call");
                return Admission::Closed;
            }
        };
        let open_until: Option<u128> =
            state.get("open_until_ms").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok());
        match open_until {
            None => Admission::Closed,
            Some(t) if t > now_ms => Admission::Open,
            // Cool-down over: one instance takes the probe.
            Some(_) => {
                let won = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", self.state_key())
                    .update_expression("SET probe_until_ms = :until")
                    .condition_expression("attribute_exists(open_until_ms) AND open_until_ms <= :now AND (attribute_not_exists(probe_until_ms) OR probe_until_ms < :now)")
                    .expression_attribute_values(":now", n(now_ms))
                    .expression_attribute_values(":until", n(now_ms + self.settings.cooldown.as_millis()))
                    .send()
                    .await;
                if won.is_ok() { Admission::Probe } else { Admission::Open }
            }
        }
    }

    /// Records how an admitted call went.
    pub async fn record(&self, admission: Admission, success: bool) {
        let result = match (admission, success) {
            (Admission::Open, _) => return,
            (Admission::Probe, true) => self.close().await,
            (Admission::Probe, false) => self.open().await,
            (Admission::Closed, _) => self.count(success).await,
        };
        if let Err(e) = result {
            tracing::warn!(breaker = %self.name, error = %e, "breaker state could not be updated");
        }
    }

    async fn count(&self, success: bool) -> Result<(), String> {
        let now = now();
        let window = self.settings.window.as_secs().max(1);
        let start = now.as_secs() / window * window;
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("cb#{}#w#{start}", self.name)))
            .update_expression("ADD #field :one SET expires_at = if_not_exists(expires_at, :expires)")
            .expression_attribute_names("#field", if success { "ok" } else { "err" })
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expires", n(start + 2 * window))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| crate::platform::aws::describe(&e))?;
        let get = |k: &str| -> u32 {
            out.attributes()
                .and_then(|a| a.get(k))
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let (ok, err) = (get("ok"), get("err"));
        let total = ok + err;
        if !success && total >= self.settings.min_calls && f64::from(err) / f64::from(total) > self.settings.error_rate
        {
            tracing::warn!(breaker = %self.name, ok, err, "error rate over threshold; opening the breaker");
            self.open().await?;
        }
        Ok(())
    }

    async fn open(&self) -> Result<(), String> {
        let now = now();
        let until = now + self.settings.cooldown;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", self.state_key())
            .item("open_until_ms", n(until.as_millis()))
            .item("expires_at", n(until.as_secs() + 24 * 3600))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| crate::platform::aws::describe(&e))
    }

    async fn close(&self) -> Result<(), String> {
        tracing::info!(breaker = %self.name, "probe succeeded; closing the breaker");
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", self.state_key())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| crate::platform::aws::describe(&e))
    }
}
