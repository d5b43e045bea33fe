//! The log audit (design §5: "Secrets, tokens, … message bodies and key material never reach
//! a log line; logs are JSON with request id, function, latency"). scripts/test.sh runs it
//! once every other test has finished, over every line the stack's gateway logged during
//! the suite (`PARLEY_GATEWAY_LOG`): thousands of requests, successes and refusals, from
//! every test — plus the canary requests of `promises_logs.rs`.
//!
//! It is excluded from the main run (it needs the whole suite's log) and fails — never
//! skips — when the log is missing, empty, or logged below `info`.

use std::collections::BTreeSet;

use parley_e2e::promises::{LOG_CANARY, log_canary_requests_file};
use parley_e2e::setting;
use serde_json::Value;

/// The gateway's log lines: (line number, raw text, parsed JSON when it is JSON).
fn log_lines() -> Vec<(usize, String, Option<Value>)> {
    let path = setting("PARLEY_GATEWAY_LOG");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read the gateway log {path}: {e}"));
    text.lines().enumerate().map(|(i, l)| (i + 1, l.to_owned(), serde_json::from_str(l).ok())).collect()
}

/// Access lines: one per request a function served.
fn access_lines(lines: &[(usize, String, Option<Value>)]) -> Vec<&Value> {
    lines.iter().filter_map(|(_, _, j)| j.as_ref()).filter(|j| j["message"] == "request completed").collect()
}

fn request_id(line: &Value) -> Option<&str> {
    line["span"]["request_id"].as_str().or(line["request_id"].as_str()).filter(|id| !id.is_empty())
}

#[test]
fn the_log_covers_the_suite_at_info_level() {
    let lines = log_lines();
    let access = access_lines(&lines);
    assert!(access.len() >= 500, "only {} access lines: is the gateway logging at info?", access.len());
    let routes: BTreeSet<&str> = access.iter().filter_map(|l| l["route"].as_str()).collect();
    assert!(routes.len() >= 12, "only these routes were logged: {routes:?}");
}

#[test]
fn every_line_is_json_and_every_access_line_has_a_request_id_function_and_latency() {
    let lines = log_lines();
    for (n, raw, json) in &lines {
        // The gateway's own start and stop notices are plain text on stderr.
        if raw.starts_with("parley-local: ") {
            continue;
        }
        assert!(json.as_ref().is_some_and(Value::is_object), "line {n} is not a JSON object: {raw}");
    }
    for line in access_lines(&lines) {
        assert!(request_id(line).is_some(), "an access line without a request id: {line}");
        assert!(line["span"]["function"].is_string(), "an access line without its function: {line}");
        assert!(line["latency_ms"].is_number() && line["status"].is_number(), "{line}");
    }
}

/// `eyJ` + base64url + `.`: the start of a JWT (every user and anonymous token is one).
fn contains_jwt(s: &str) -> bool {
    let bytes = s.as_bytes();
    s.match_indices("eyJ").any(|(i, _)| {
        let rest = &bytes[i + 3..];
        let run = rest.iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b'_').count();
        run >= 10 && rest.get(run) == Some(&b'.')
    })
}

/// `Bearer ` followed by a credential (8+ token characters), in any case.
fn contains_bearer_credential(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    lower.match_indices("bearer ").any(|(i, m)| {
        lower[i + m.len()..].bytes().take_while(|b| b.is_ascii_alphanumeric() || b"-_.~+/=".contains(b)).count() >= 8
    })
}

#[test]
fn the_matchers_find_tokens_and_only_tokens() {
    assert!(contains_jwt(r#"{"x":"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"}"#));
    assert!(!contains_jwt(r#"{"x":"eyJhbGc"}"#));
    assert!(contains_bearer_credential(r#"{"h":"bearer parley-log-canary"}"#));
    assert!(!contains_bearer_credential(r#"{"message":"not a Bearer token"}"#));
}

#[test]
fn no_line_holds_a_token_a_query_string_or_the_canary() {
    let lines = log_lines();
    let mut leaks = Vec::new();
    for (n, raw, _) in &lines {
        let lower = raw.to_ascii_lowercase();
        let found = [
            (contains_jwt(raw), "a JWT"),
            (contains_bearer_credential(raw), "a bearer credential"),
            (raw.contains(LOG_CANARY), "the canary (a header, query, path, key or body value)"),
            (lower.contains("/v1/") && raw.contains('?'), "a path with its query string"),
            (lower.contains("idiot"), "a message body (the suite's hostile texts)"),
        ];
        for (hit, what) in found {
            if hit {
                leaks.push(format!("line {n}: {what}: {raw}"));
            }
        }
    }
    assert!(leaks.is_empty(), "{} leaking log lines:\n{}", leaks.len(), leaks.join("\n"));
}

#[test]
fn every_canary_request_was_logged_under_its_request_id() {
    let file = log_canary_requests_file();
    let ids = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e} (did promises_logs.rs run before the audit?)", file.display()));
    let ids: Vec<&str> = ids.lines().filter(|l| !l.is_empty()).collect();
    assert!(ids.len() >= 11, "{} canary requests", ids.len());
    let lines = log_lines();
    let logged: BTreeSet<&str> = lines.iter().filter_map(|(_, _, j)| j.as_ref()).filter_map(request_id).collect();
    let missing: Vec<&&str> = ids.iter().filter(|id| !logged.contains(**id)).collect();
    assert!(missing.is_empty(), "canary requests with no log line: {missing:?}");
}
