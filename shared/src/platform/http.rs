//! The HTTP edge shared by every API function: request ids, structured access logs,
//! JSON bodies in and out, and errors rendered as problem+json.
//!
//! Guarantees: [`serve`] always returns a response (a handler error becomes problem+json,
//! never an error bubbled to the Lambda runtime), every response carries `x-request-id`,
//! and the access log line holds method, route, status and latency — never headers,
//! bodies or query strings, which can carry tokens and personal data.

use std::future::Future;
use std::time::Instant;

use http::{HeaderValue, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::platform::error::{ApiError, FieldError};

pub use http::StatusCode;
pub use lambda_http::Request;
pub type Response = http::Response<Body>;

/// Largest JSON body any endpoint accepts; API Gateway's own limit is 10 MB.
pub const MAX_JSON_BODY: usize = 64 * 1024;

const PROBLEM_JSON: &str = "application/problem+json";

/// The id API Gateway gave this request (also what the client sees in `x-request-id`).
/// Falls back to the Lambda invocation id, then to a fresh id, so every log line has one.
pub fn request_id(req: &Request) -> String {
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref()
        && let Some(id) = ctx.request_id.as_deref()
        && !id.is_empty()
    {
        return id.to_owned();
    }
    if let Some(ctx) = req.lambda_context_ref() {
        return ctx.request_id.clone();
    }
    uuid::Uuid::now_v7().to_string()
}

/// How long an invocation may run when no Lambda context says (the local gateway and
/// in-process calls): the template's `Timeout` (Globals, 10 s).
pub const DEFAULT_INVOCATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// When this invocation will be killed: the Lambda context's deadline, else
/// [`DEFAULT_INVOCATION_TIMEOUT`] from now. Work that must finish (or give up cleanly)
/// before the function dies budgets against this, never against a fixed timeout.
pub fn deadline(req: &Request) -> std::time::SystemTime {
    match req.lambda_context_ref() {
        Some(ctx) if ctx.deadline > 0 => ctx.deadline(),
        _ => std::time::SystemTime::now() + DEFAULT_INVOCATION_TIMEOUT,
    }
}

/// The time this invocation has left (zero when past its deadline).
pub fn remaining(req: &Request) -> std::time::Duration {
    deadline(req).duration_since(std::time::SystemTime::now()).unwrap_or_default()
}

/// The client's address as API Gateway saw the TCP connection
/// (`requestContext.http.sourceIp`) — never a client-supplied header such as
/// `X-Forwarded-For`, which anyone can set.
pub fn source_ip(req: &Request) -> Option<String> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone().filter(|ip| !ip.is_empty()),
        _ => None,
    }
}

/// The route key (`GET /v1/chat/conversations/{id}/messages`) — a template, so logging it
/// never leaks an id from the path.
fn route_key(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// Runs `handler` for `req` inside a span carrying the function name and request id,
/// turns its error into problem+json, stamps `x-request-id` and logs one access line.
pub async fn serve<F, Fut>(function: &'static str, req: Request, handler: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    let started = Instant::now();
    let request_id = request_id(&req);
    let method = req.method().clone();
    let route = route_key(&req);
    let span = tracing::info_span!("request", function, request_id = %request_id);
    async move {
        let mut response = match handler(req).await {
            Ok(response) => response,
            Err(err) => problem_response(&err, &request_id),
        };
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-request-id", v);
        }
        tracing::info!(
            method = %method,
            route = %route,
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request completed"
        );
        response
    }
    .instrument(span)
    .await
}

/// Renders an [`ApiError`]; server errors are logged with their cause.
pub fn problem_response(err: &ApiError, request_id: &str) -> Response {
    log_error(err);
    let body = serde_json::to_string(&err.problem(request_id)).expect("a problem document always serializes");
    let mut builder = http::Response::builder()
        .status(err.status)
        .header(header::CONTENT_TYPE, PROBLEM_JSON)
        .header(header::CACHE_CONTROL, "no-store");
    for (name, value) in &err.headers {
        builder = builder.header(name, value);
    }
    builder.body(Body::from(body)).expect("static headers are valid")
}

/// Logs an error the way every answer logs it: a server error (and its cause) at error
/// level, a refusal at info. For handlers that answer an error in another format.
pub fn log_error(err: &ApiError) {
    if err.status.is_server_error() {
        match &err.source {
            Some(source) => tracing::error!(error = %err, cause = %source, "request failed"),
            None => tracing::error!(error = %err, "request failed"),
        }
    } else {
        tracing::info!(status = err.status.as_u16(), problem = err.slug, "request refused");
    }
}

/// A JSON response with `status`. The body is text, so API Gateway passes it through
/// rather than base64-encoding it.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Response, ApiError> {
    let body = serde_json::to_string(value).map_err(|e| ApiError::internal().with_source(e))?;
    Ok(http::Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(body))
        .expect("static headers are valid"))
}

/// A response with no body (`204`).
pub fn empty(status: StatusCode) -> Response {
    http::Response::builder().status(status).body(Body::Empty).expect("static response is valid")
}

/// Parses a JSON request body into `T`.
///
/// - no body, or a `Content-Type` other than JSON → 415/400,
/// - larger than [`MAX_JSON_BODY`] → 413,
/// - well-formed JSON of the wrong shape → 422 naming the field (`flight.number: invalid type…`).
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        if !(ct.starts_with("application/json") || ct.contains("+json")) {
            return Err(ApiError::unsupported_media_type("send the body as application/json"));
        }
    }
    let bytes: &[u8] = req.body().as_ref();
    if bytes.is_empty() {
        return Err(ApiError::bad_request("a JSON body is required"));
    }
    if bytes.len() > MAX_JSON_BODY {
        return Err(ApiError::payload_too_large(format!("the body must be at most {MAX_JSON_BODY} bytes")));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let inner = err.inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::bad_request(format!("the body is not valid JSON: {inner}"));
        }
        let path = err.path().to_string();
        let message = inner.to_string();
        // serde reports a missing field at its parent; name the field itself.
        let field = match missing_field(&message) {
            Some(name) if path == "." => name.to_owned(),
            Some(name) => format!("{path}.{name}"),
            None if path == "." => "body".to_owned(),
            None => path,
        };
        ApiError::validation(vec![FieldError::new(field, strip_position(&message))])
    })
}

fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// serde_json appends " at line 1 column 17"; field names say more than positions.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The value of a path parameter (`{id}`), or 404 — a route without it cannot match.
pub fn path_param(req: &Request, name: &str) -> Result<String, ApiError> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_owned)
        .ok_or_else(|| ApiError::not_found(format!("missing path parameter {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Flight {
        number: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body1 {
        flight: Flight,
    }

    fn post(body: &str) -> Request {
        http::Request::builder()
            .method("POST")
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap()
    }

    #[test]
    fn a_missing_nested_field_is_named_by_its_path() {
        let err = json_body::<Body1>(&post(r#"{"flight":{}}"#)).unwrap_err();
        assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.errors[0].field, "flight.number");
    }

    #[test]
    fn a_wrong_type_is_named_by_its_path() {
        let err = json_body::<Body1>(&post(r#"{"flight":{"number":7}}"#)).unwrap_err();
        assert_eq!(err.errors[0].field, "flight.number");
        assert!(!err.errors[0].message.contains("line"));
    }

    #[test]
    fn broken_json_is_a_bad_request() {
        let err = json_body::<Body1>(&post(r#"{"flight":"#)).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_non_json_content_type_is_refused() {
        let req = http::Request::builder()
            .method("POST")
            .header("content-type", "text/plain")
            .body(Body::from("{}"))
            .unwrap();
        assert_eq!(json_body::<serde_json::Value>(&req).unwrap_err().status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn an_oversized_body_is_refused() {
        let big = format!("\"{}\"", "x".repeat(MAX_JSON_BODY));
        assert_eq!(json_body::<String>(&post(&big)).unwrap_err().status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn every_response_carries_a_request_id_even_on_error() {
        let req = http::Request::builder().body(Body::Empty).unwrap();
        let resp = serve("test", req, |_| async { Err::<Response, _>(ApiError::not_found("nope")) }).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert!(resp.headers().contains_key("x-request-id"));
        assert_eq!(resp.headers()["content-type"], PROBLEM_JSON);
        assert!(matches!(resp.body(), Body::Text(_)), "JSON must travel as text, not base64");
    }

    #[test]
    fn a_json_response_is_a_text_body() {
        let resp = json(StatusCode::OK, &serde_json::json!({"a": 1})).unwrap();
        assert!(matches!(resp.body(), Body::Text(t) if t == r#"{"a":1}"#));
    }
}
