//! CORS at the local gateway, over HTTP: preflights answered from the template's
//! `CorsConfiguration`, CORS headers on every response to an allowed origin (errors
//! included), and `OPTIONS` outside a preflight. The stack allows `http://localhost:*` and
//! `http://127.0.0.1:*` (`PARLEY_CORS_ORIGINS`, written by scripts/lib.sh).

use parley_e2e::*;
use reqwest::Method;
use uuid::Uuid;

const APP: &str = "http://localhost:5173";
const STRANGER: &str = "https://evil.example";

async fn options(path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = client().request(Method::OPTIONS, format!("{}{path}", base_url()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(req).await
}

fn list(reply: &Reply, header: &str) -> Vec<String> {
    reply.header(header).split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect()
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered_with_the_templates_configuration() {
    // GIVEN a dev server's page about to post a chat message with its anonymous token
    // WHEN the browser sends the preflight
    let reply = options(
        "/v1/chat/messages",
        &[
            ("origin", APP),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type,x-anonymous-session"),
        ],
    )
    .await;
    // THEN the gateway answers it itself, allowing the method and the headers
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(reply.header("access-control-allow-origin"), APP);
    assert!(list(&reply, "access-control-allow-methods").contains(&"post".to_owned()), "{:?}", reply.headers);
    let headers = list(&reply, "access-control-allow-headers");
    for h in ["content-type", "x-anonymous-session", "authorization", "idempotency-key"] {
        assert!(headers.contains(&h.to_owned()), "{h} not allowed: {headers:?}");
    }
    assert_eq!(reply.header("access-control-max-age"), "600");
    assert!(reply.header("access-control-allow-credentials").is_empty(), "credentials are never allowed");
}

#[tokio::test]
async fn a_preflight_from_another_origin_gets_no_cors_headers() {
    // WHEN a page on an origin the stack does not allow sends a preflight
    let reply = options("/v1/chat/messages", &[("origin", STRANGER), ("access-control-request-method", "POST")]).await;
    // THEN the answer allows nothing, so the browser never sends the request
    assert_eq!(reply.status, 204);
    for h in ["access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers"] {
        assert!(reply.header(h).is_empty(), "{h} was sent to a stranger: {:?}", reply.headers);
    }
}

#[tokio::test]
async fn a_401_carries_the_cors_headers_so_the_app_can_read_it() {
    // WHEN an allowed page calls with an invalid token
    let reply = get("/v1/sessions/me", &[("origin", APP), ("x-anonymous-session", "not-a-token")]).await;
    // THEN the problem is readable: allow-origin, and x-request-id exposed
    reply.assert_problem(401);
    assert_eq!(reply.header("access-control-allow-origin"), APP);
    assert!(list(&reply, "access-control-expose-headers").contains(&"x-request-id".to_owned()));
}

#[tokio::test]
async fn a_404_from_the_gateway_itself_carries_the_cors_headers() {
    let reply = get("/v1/no-such-route", &[("origin", APP)]).await;
    reply.assert_problem(404);
    assert_eq!(reply.header("access-control-allow-origin"), APP);
}

#[tokio::test]
async fn a_429_carries_the_cors_headers_and_exposes_retry_after() {
    // GIVEN an allowed page's anonymous visitor (default limit: 20 messages a minute)
    let (_, token) = anonymous_session().await;
    let mut who = as_anonymous(&token);
    who.push(("origin".into(), APP.into()));
    let first = post_message(&who, "hello", None).await;
    let conversation: Uuid = first.body["message"]["conversation_id"].as_str().unwrap().parse().unwrap();
    // WHEN it keeps posting past its limit (a window may roll over once: allow two)
    let mut sent = 1;
    let limited = loop {
        let reply = post_message(&who, "again", Some(conversation)).await;
        if reply.status == 429 {
            break reply;
        }
        assert_eq!(reply.status, 201, "{}", reply.body);
        sent += 1;
        assert!(sent <= 40, "no 429 after {sent} messages");
    };
    // THEN the 429 is readable by the page, Retry-After included
    limited.assert_problem(429);
    assert_eq!(limited.header("access-control-allow-origin"), APP);
    assert!(list(&limited, "access-control-expose-headers").contains(&"retry-after".to_owned()));
}

#[tokio::test]
async fn a_response_to_another_origin_or_to_no_origin_has_no_cors_headers() {
    for headers in [vec![("origin", STRANGER)], vec![]] {
        let reply = get("/health", &headers).await;
        assert!(reply.header("access-control-allow-origin").is_empty(), "{headers:?}: {:?}", reply.headers);
        assert!(reply.header("access-control-expose-headers").is_empty(), "{headers:?}");
        assert!(!reply.header("x-request-id").is_empty());
    }
}

#[tokio::test]
async fn options_on_an_unknown_path_is_404_preflight_or_not() {
    let plain = options("/v1/no-such-route", &[]).await;
    plain.assert_problem(404);
    let preflight = options("/v1/no-such-route", &[("origin", APP), ("access-control-request-method", "GET")]).await;
    preflight.assert_problem(404);
    assert!(preflight.header("access-control-allow-methods").is_empty(), "an unknown path allows nothing");
}

#[tokio::test]
async fn options_without_preflight_headers_on_a_served_path_is_204_with_allow() {
    // WHEN a client asks what a path supports (RFC 9110 §9.3.7), without a preflight
    let reply = options(&format!("/v1/cart/items/{}", Uuid::now_v7()), &[]).await;
    // THEN 204 naming the methods its routes serve
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(reply.header("allow"), "DELETE, OPTIONS");
    assert!(!reply.header("x-request-id").is_empty());
    assert_eq!(options("/v1/cart/items", &[]).await.header("allow"), "POST, OPTIONS");
}
