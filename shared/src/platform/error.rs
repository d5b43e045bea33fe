//! One error type for every HTTP function, rendered as RFC 9457 `application/problem+json`.
//!
//! Guarantees: every failure a handler returns becomes a well-formed problem document with
//! `type`, `title`, `status`, `detail` and `request_id`; internal causes are logged with the
//! request id but never sent to the caller; field-level validation errors travel in
//! `errors`.

use http::StatusCode;
use serde::Serialize;

/// One invalid field in a request body or query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON-pointer-ish name of the field (`content`, `flight.number`).
    pub field: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// What a handler returns when it cannot answer with success.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Short machine-readable slug; becomes `type` = `urn:parley:problem:<slug>`.
    pub slug: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Extra response headers (e.g. `Retry-After`, `WWW-Authenticate`).
    pub headers: Vec<(http::HeaderName, String)>,
    /// The underlying cause, logged server-side only.
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
    /// RFC 9457 extension members (e.g. the indicators of a refused message).
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, slug: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            slug,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
            source: None,
            extensions: serde_json::Map::new(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request", detail)
    }

    /// 422 with one message per invalid field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
        Self { errors, ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", "Invalid request", detail) }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized", detail)
            .with_header(http::header::WWW_AUTHENTICATE, "Bearer")
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "Method not allowed", detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Payload too large", detail)
    }

    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Unsupported media type", detail)
    }

    /// A dependency (database, KMS, DynamoDB, a provider) is unreachable or failing.
    pub fn unavailable(dependency: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "dependency-unavailable",
            "Service unavailable",
            format!("{dependency} is unavailable; nothing was changed, try again shortly"),
        )
        .with_header(http::header::RETRY_AFTER, "1")
    }

    /// A bug or an unexpected state; the cause is logged, the caller sees only the request id.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", "an unexpected error occurred")
    }

    pub fn with_header(mut self, name: http::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Adds an extension member to the problem document.
    pub fn with_extension(mut self, name: &str, value: serde_json::Value) -> Self {
        self.extensions.insert(name.to_owned(), value);
        self
    }

    pub fn with_source(mut self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The problem document for this error.
    pub fn problem<'a>(&'a self, request_id: &'a str) -> Problem<'a> {
        Problem {
            kind: format!("urn:parley:problem:{}", self.slug),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            request_id,
            errors: &self.errors,
            extensions: &self.extensions,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.slug, self.detail)
    }
}

/// The RFC 9457 body.
#[derive(Debug, Serialize)]
pub struct Problem<'a> {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'a str,
    pub status: u16,
    pub detail: &'a str,
    pub request_id: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub errors: &'a [FieldError],
    #[serde(flatten)]
    pub extensions: &'a serde_json::Map<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_error_lists_every_field() {
        // GIVEN two invalid fields
        let err = ApiError::validation(vec![FieldError::new("a", "is required"), FieldError::new("b", "too long")]);
        // WHEN rendered
        let body = serde_json::to_value(err.problem("req-1")).unwrap();
        // THEN it is a 422 problem naming both, with the request id
        assert_eq!(body["status"], 422);
        assert_eq!(body["type"], "urn:parley:problem:validation");
        assert_eq!(body["request_id"], "req-1");
        assert_eq!(body["errors"][1]["field"], "b");
        assert_eq!(body["detail"], "a: is required; b: too long");
    }

    #[test]
    fn a_problem_without_field_errors_omits_the_list() {
        let body = serde_json::to_value(ApiError::not_found("no such thing").problem("r")).unwrap();
        assert!(body.get("errors").is_none());
        assert_eq!(body["title"], "Not found");
    }

    #[test]
    fn an_internal_error_never_carries_its_cause_to_the_caller() {
        let err = ApiError::internal().with_source(std::io::Error::other("password=secret"));
        let body = serde_json::to_string(&err.problem("r")).unwrap();
        assert!(!body.contains("secret"));
    }
}
