//! Builds the API Gateway HTTP API (payload format 2.0) event for an HTTP request, then
//! lets `lambda_http` turn it into the `Request` a handler sees — the same deserializer
//! Lambda runs, so a handler cannot tell the local gateway from API Gateway.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::Utc;
use serde_json::{Value, json};

/// What the gateway knows about one incoming request.
pub struct Incoming<'a> {
    pub route_key: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
    pub path_params: &'a BTreeMap<String, String>,
    pub request_id: &'a str,
    pub source_ip: &'a str,
}

/// The v2 event, as JSON.
pub fn v2_event(req: &Incoming<'_>) -> Value {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in req.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(value.split(';').map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()));
            continue;
        }
        // API Gateway lower-cases names and joins repeated headers with commas.
        headers.entry(name.as_str().to_owned()).and_modify(|v| *v = format!("{v},{value}")).or_insert(value);
    }
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(req.raw_query.as_bytes()) {
        query.entry(k.into_owned()).and_modify(|e| *e = format!("{e},{v}")).or_insert_with(|| v.into_owned());
    }
    let (body, is_base64) = match std::str::from_utf8(req.body) {
        _ if req.body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_owned()), false),
        Err(_) => (Value::String(base64::engine::general_purpose::STANDARD.encode(req.body)), true),
    };
    let now = Utc::now();
    let mut event = json!({
        "version": "2.0",
        "routeKey": req.route_key,
        "rawPath": req.path,
        "rawQueryString": req.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": headers.get("host").cloned().unwrap_or_else(|| "localhost".to_owned()),
            "domainPrefix": "local",
            "http": {
                "method": req.method,
                "path": req.path,
                "protocol": "HTTP/1.1",
                "sourceIp": req.source_ip,
                "userAgent": headers.get("user-agent").cloned().unwrap_or_default(),
            },
            "requestId": req.request_id,
            "routeKey": req.route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": is_base64,
    });
    let obj = event.as_object_mut().expect("built as an object");
    if !cookies.is_empty() {
        obj.insert("cookies".into(), json!(cookies));
    }
    if !query.is_empty() {
        obj.insert("queryStringParameters".into(), json!(query));
    }
    if !req.path_params.is_empty() {
        obj.insert("pathParameters".into(), json!(req.path_params));
    }
    if !body.is_null() {
        obj.insert("body".into(), body);
    }
    event
}

/// The handler-facing request for an event, through `lambda_http`'s own deserializer.
pub fn to_request(event: &Value) -> Result<lambda_http::Request, String> {
    lambda_http::request::from_str(&event.to_string()).map_err(|e| format!("not an API Gateway event: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;

    #[test]
    fn the_handler_sees_path_query_headers_body_and_request_id() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-anonymous-session", "tok".parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        let params = BTreeMap::from([("id".to_owned(), "c1".to_owned())]);
        let incoming = Incoming {
            route_key: "GET /v1/c/{id}",
            method: "GET",
            path: "/v1/c/c1",
            raw_query: "limit=5&cursor=a%2Bb",
            headers: &headers,
            body: br#"{"a":1}"#,
            path_params: &params,
            request_id: "req-123",
            source_ip: "127.0.0.1",
        };
        let req = to_request(&v2_event(&incoming)).unwrap();
        assert_eq!(req.method(), "GET");
        assert_eq!(req.uri().path(), "/v1/c/c1");
        assert_eq!(req.path_parameters().first("id"), Some("c1"));
        assert_eq!(req.query_string_parameters().first("cursor"), Some("a+b"));
        assert_eq!(req.headers()["x-anonymous-session"], "tok");
        assert_eq!(req.body().as_ref(), br#"{"a":1}"#);
        match req.request_context() {
            RequestContext::ApiGatewayV2(ctx) => assert_eq!(ctx.request_id.as_deref(), Some("req-123")),
            #[allow(unreachable_patterns)]
            _ => panic!("expected a v2 context"),
        }
    }

    #[test]
    fn a_binary_body_is_base64_encoded_and_decoded_back() {
        let headers = http::HeaderMap::new();
        let params = BTreeMap::new();
        let body = [0xff, 0x00, 0x10];
        let incoming = Incoming {
            route_key: "POST /x",
            method: "POST",
            path: "/x",
            raw_query: "",
            headers: &headers,
            body: &body,
            path_params: &params,
            request_id: "r",
            source_ip: "127.0.0.1",
        };
        let event = v2_event(&incoming);
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(to_request(&event).unwrap().body().as_ref(), &body);
    }
}
