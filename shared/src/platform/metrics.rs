//! CloudWatch metrics through the Embedded Metric Format: one JSON line on stdout, which
//! Lambda ships to CloudWatch Logs and CloudWatch turns into a metric. No API call, no
//! latency, no IAM permission.
//!
//! Guarantees: a metric line carries only the namespace, the metric, its dimensions and the
//! value — callers pass identifiers as dimensions only when their cardinality is bounded.

use std::io::Write;

pub const NAMESPACE: &str = "Parley";

/// Emits `name = value` (`unit`: `Count`, `Milliseconds`, …) with the function dimension.
pub fn emit(function: &str, name: &str, value: f64, unit: &str) {
    let line = serde_json::json!({
        "_aws": {
            "Timestamp": chrono::Utc::now().timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["function"]],
                "Metrics": [{"Name": name, "Unit": unit}],
            }],
        },
        "function": function,
        name: value,
    });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}
