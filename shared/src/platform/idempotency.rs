//! `Idempotency-Key` for writes a client may repeat, after AWS Lambda Powertools'
//! idempotency utility, on the DynamoDB ephemeral-state table.
//!
//! Guarantees, per (route, caller, key):
//! - the first request claims the key with a conditional put of an `INPROGRESS` record;
//!   the condition (`attribute_not_exists(pk) OR expires_at < now OR (status = INPROGRESS
//!   AND in_progress_until < now_ms)`) makes exactly one concurrent request the winner, and
//!   `ReturnValuesOnConditionCheckFailure = ALL_OLD` tells the others what won;
//! - the winner's claim lasts as long as its invocation can (the Lambda deadline, plus a
//!   second of margin): a claim left behind by a crashed invocation frees the key as soon
//!   as that invocation could no longer be running, not after a fixed timeout;
//! - the winner's response (any status below 500) is stored as `COMPLETED` and later
//!   requests with the same key and body get it back byte for byte — status, body and
//!   headers (all but `x-request-id`, which names each request) — with
//!   `idempotent-replayed: true`;
//! - the same key with a different body → 422; a duplicate that arrives while the first is
//!   still running waits briefly for it, then gets its response, or 409 if it is still
//!   running;
//! - a failure (5xx or an error) deletes the record, so the client's retry runs again;
//! - expiry is checked in code, never left to DynamoDB TTL (which deletes late);
//! - DynamoDB unreachable → 503, nothing done (fail closed: these guard money and keys).
//!
//! The database constraints of each write stay the first line of idempotency; this layer
//! makes the *response* repeatable.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use http::StatusCode;
use lambda_http::Body;
use sha2::{Digest, Sha256};

use crate::platform::error::ApiError;
use crate::platform::http::{Request, Response};

pub const HEADER: &str = "idempotency-key";
const MAX_KEY_LEN: usize = 255;

#[derive(Clone)]
pub struct IdempotencyStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// Added to the invocation's deadline before a claim may be taken over (clock skew
    /// between instances).
    in_progress_margin: Duration,
    /// How long a completed response is replayed.
    ttl: Duration,
    /// How long a duplicate waits for an in-progress original.
    wait_for_original: Duration,
}

enum Claim {
    Won,
    Replay(Response),
    Retry,
}

impl IdempotencyStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            in_progress_margin: Duration::from_secs(1),
            ttl: Duration::from_secs(24 * 3600),
            wait_for_original: Duration::from_secs(3),
        }
    }

    /// Runs `handler` at most once per `Idempotency-Key` (when the request has one).
    /// `caller` identifies who is asking (`user:<id>`), so keys never collide across callers.
    pub async fn run<F, Fut>(&self, route: &str, caller: &str, req: &Request, handler: F) -> Result<Response, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Response, ApiError>>,
    {
        let Some(key) = idempotency_key(req)? else { return handler().await };
        let pk = format!("idem#{route}#{caller}#{}", hex::encode(Sha256::digest(key.as_bytes())));
        let body_hash = hex::encode(Sha256::digest(req.body().as_ref()));
        let in_progress_until = crate::platform::http::deadline(req).duration_since(UNIX_EPOCH).unwrap_or_default()
            + self.in_progress_margin;

        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.claim(&pk, &body_hash, in_progress_until).await? {
                Claim::Won => break,
                Claim::Replay(resp) => return Ok(resp),
                Claim::Retry if attempts < 3 => continue,
                Claim::Retry => return Err(in_progress()),
            }
        }

        let result = handler().await;
        match &result {
            Ok(resp) if resp.status().as_u16() < 500 && !matches!(resp.body(), Body::Binary(_)) => {
                if let Err(e) = self.complete(&pk, resp).await {
                    // The effect happened; the database constraints keep a retry harmless.
                    tracing::error!(error = %e, "could not record an idempotent response");
                }
            }
            _ => self.release(&pk).await,
        }
        result
    }

    /// Tries to take the key; on losing, decides what the loser gets.
    async fn claim(&self, pk: &str, body_hash: &str, in_progress_until: Duration) -> Result<Claim, ApiError> {
        let now = now();
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("status", s("INPROGRESS"))
            .item("body_hash", s(body_hash))
            .item("in_progress_until", n(in_progress_until.as_millis()))
            .item("expires_at", n((now + self.ttl).as_secs()))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at < :now OR (#status = :inprogress AND in_progress_until < :now_ms)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", n(now.as_secs()))
            .expression_attribute_values(":now_ms", n(now.as_millis()))
            .expression_attribute_values(":inprogress", s("INPROGRESS"))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let existing = match out {
            Ok(_) => return Ok(Claim::Won),
            Err(e) => match e.into_service_error() {
                aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                    c.item.unwrap_or_default()
                }
                other => return Err(unavailable(&other)),
            },
        };
        if get_s(&existing, "body_hash") != Some(body_hash) {
            return Err(ApiError::validation(vec![crate::FieldError::new(
                "Idempotency-Key",
                "was already used with a different request body; use a new key for a new request",
            )]));
        }
        if get_s(&existing, "status") == Some("COMPLETED") {
            return Ok(Claim::Replay(replay(&existing)?));
        }
        self.wait_for(pk, body_hash).await
    }

    /// Polls an in-progress record until it completes, disappears (the original failed:
    /// try to take over) or the wait runs out (409).
    async fn wait_for(&self, pk: &str, body_hash: &str) -> Result<Claim, ApiError> {
        let deadline = tokio::time::Instant::now() + self.wait_for_original;
        let mut pause = Duration::from_millis(20);
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
            let item = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", s(pk))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| unavailable(&e.into_service_error()))?
                .item
                .unwrap_or_default();
            match get_s(&item, "status") {
                None => return Ok(Claim::Retry),
                Some("COMPLETED") if get_s(&item, "body_hash") == Some(body_hash) => {
                    return Ok(Claim::Replay(replay(&item)?));
                }
                _ => {}
            }
        }
        Err(in_progress())
    }

    async fn complete(&self, pk: &str, resp: &Response) -> Result<(), String> {
        let body = match resp.body() {
            Body::Text(t) => t.clone(),
            _ => String::new(),
        };
        let headers = serde_json::to_string(&stored_headers(resp)).map_err(|e| e.to_string())?;
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .update_expression("SET #status = :completed, resp_status = :st, resp_headers = :h, resp_body = :body")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":completed", s("COMPLETED"))
            .expression_attribute_values(":st", n(resp.status().as_u16()))
            .expression_attribute_values(":h", s(&headers))
            .expression_attribute_values(":body", s(&body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| crate::platform::aws::describe(&e))
    }

    async fn release(&self, pk: &str) {
        if let Err(e) = self.client.delete_item().table_name(&self.table).key("pk", s(pk)).send().await {
            tracing::warn!(error = %crate::platform::aws::describe(&e), "could not release an idempotency key");
        }
    }
}

/// The request's key: absent is fine; present must be 1–255 visible ASCII characters.
fn idempotency_key(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(HEADER) else { return Ok(None) };
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters (a UUID is a good choice)"
        )));
    }
    Ok(Some(key.to_owned()))
}

fn replay(item: &HashMap<String, AttributeValue>) -> Result<Response, ApiError> {
    let status =
        get_n(item, "resp_status").and_then(|v| StatusCode::from_u16(v as u16).ok()).ok_or_else(ApiError::internal)?;
    let body = get_s(item, "resp_body").unwrap_or_default().to_owned();
    let mut builder = http::Response::builder().status(status);
    let headers: Vec<(String, String)> =
        get_s(item, "resp_headers").and_then(|h| serde_json::from_str(h).ok()).unwrap_or_default();
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let builder = builder.header("idempotent-replayed", "true");
    let body = if body.is_empty() { Body::Empty } else { Body::Text(body) };
    builder.body(body).map_err(|e| ApiError::internal().with_source(e))
}

/// The headers a replay repeats: every one the handler set, except `x-request-id` (each
/// request has its own) and any `idempotent-replayed` (the replay sets it).
fn stored_headers(resp: &Response) -> Vec<(String, String)> {
    resp.headers()
        .iter()
        .filter(|(name, _)| *name != "x-request-id" && *name != "idempotent-replayed")
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect()
}

fn in_progress() -> ApiError {
    ApiError::conflict("a request with this Idempotency-Key is still in progress; retry shortly")
        .with_header(http::header::RETRY_AFTER, "1")
}

fn unavailable(e: &(dyn std::error::Error + 'static)) -> ApiError {
    tracing::error!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(e), "idempotency store unavailable");
    ApiError::unavailable("the idempotency store")
}

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s<'a>(item: &'a HashMap<String, AttributeValue>, k: &str) -> Option<&'a str> {
    item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn get_n(item: &HashMap<String, AttributeValue>, k: &str) -> Option<u64> {
    item.get(k).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(key: Option<&str>) -> Request {
        let mut b = http::Request::builder();
        if let Some(k) = key {
            b = b.header(HEADER, k);
        }
        b.body(Body::Empty).unwrap()
    }

    #[test]
    fn a_replay_repeats_every_header_but_the_request_id() {
        // GIVEN a completed response with a Location and a cache header
        let resp = http::Response::builder()
            .status(201)
            .header("content-type", "application/json")
            .header("location", "/v1/cart/items/1")
            .header("cache-control", "no-store")
            .header("x-request-id", "req-1")
            .body(Body::Text("{}".into()))
            .unwrap();
        let item: HashMap<String, AttributeValue> = [
            ("resp_status".to_owned(), n(201)),
            ("resp_body".to_owned(), s("{}")),
            ("resp_headers".to_owned(), s(&serde_json::to_string(&stored_headers(&resp)).unwrap())),
        ]
        .into();
        // WHEN it is replayed
        let replayed = replay(&item).unwrap();
        // THEN the headers come back, the old request id does not, and it says it is a replay
        assert_eq!(replayed.headers()["location"], "/v1/cart/items/1");
        assert_eq!(replayed.headers()["cache-control"], "no-store");
        assert_eq!(replayed.headers()["content-type"], "application/json");
        assert_eq!(replayed.headers()["idempotent-replayed"], "true");
        assert!(replayed.headers().get("x-request-id").is_none());
    }

    #[test]
    fn a_missing_key_means_no_idempotency() {
        assert_eq!(idempotency_key(&req(None)).unwrap(), None);
    }

    #[test]
    fn a_key_must_be_visible_ascii_and_bounded() {
        assert_eq!(idempotency_key(&req(Some("abc-123"))).unwrap().as_deref(), Some("abc-123"));
        for bad in ["", "has space", &"k".repeat(256)] {
            assert_eq!(idempotency_key(&req(Some(bad))).unwrap_err().status, 400, "{bad:?}");
        }
    }
}
