//! A web app in a real browser calls Parley cross-origin. The test serves a page from a
//! loopback origin of its own, Debian's headless Chromium (driven by Playwright, see
//! tests/browser/open-page.mjs) loads it, and the page's script calls the local gateway
//! (`PARLEY_URL`, another origin) with `fetch`, exactly as a front-end would. The browser
//! enforces CORS, so what the page could read is what a web app could read.
//!
//! The stack allows `http://localhost:*` and `http://127.0.0.1:*` (`PARLEY_CORS_ORIGINS`
//! in `.local/stack.env`); `http://127.0.0.2:<port>` is loopback too, but not allowed.
//!
//! Needs Chromium and tests/browser's npm packages, which `make test` installs; without
//! them these tests fail and say so — never skip.

use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use parley_e2e::*;
use serde_json::Value;

/// The web app: each step records what the page could read, or the browser's error.
const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>Parley from a web app</title>
<script>
(async () => {
  const query = new URLSearchParams(location.search);
  const api = query.get("api");
  const result = { origin: location.origin };
  const step = async (name, run) => {
    try { await run(); } catch (e) { result[name + "_error"] = String(e); }
  };
  let token = query.get("token");

  await step("session", async () => {
    const r = await fetch(`${api}/v1/sessions/anonymous`, { method: "POST" });
    result.session_status = r.status;
    token = token || (await r.json()).token;
  });
  await step("message", async () => {
    const r = await fetch(`${api}/v1/chat/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-anonymous-session": token },
      body: JSON.stringify({ content: "Hello from a browser" }),
    });
    result.message_status = r.status;
    result.message_request_id = r.headers.get("x-request-id");
    const body = await r.json();
    result.conversation_id = body.message && body.message.conversation_id;
  });
  await step("unauthorized", async () => {
    const r = await fetch(`${api}/v1/sessions/me`, { headers: { "x-anonymous-session": "not-a-token" } });
    result.unauthorized_status = r.status;
    result.unauthorized_request_id = r.headers.get("x-request-id");
  });
  window.parleyResult = result;
})();
</script>
"#;

/// Serves [`PAGE`] on `host`, on a free port; returns the page's origin.
async fn serve_page(host: &str) -> String {
    let listener = tokio::net::TcpListener::bind((host, 0))
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {host}: {e} (loopback 127.0.0.0/8 is needed)"));
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let service = service_fn(|_req| async {
                    Ok::<_, Infallible>(
                        hyper::Response::builder()
                            .header("content-type", "text/html; charset=utf-8")
                            .body(Full::new(Bytes::from_static(PAGE.as_bytes())))
                            .unwrap(),
                    )
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    origin
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("PARLEY_CHROMIUM").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromium".into());
    assert!(
        path.exists(),
        "Chromium is not at {}: run the tests with `make test`, which installs Debian's chromium",
        path.display()
    );
    path
}

/// Loads `url` in headless Chromium; returns what the page's script recorded.
async fn open_in_browser(url: &str) -> Value {
    let dir = repo().join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "tests/browser/node_modules is missing: run the tests with `make test`, which runs `npm ci` there"
    );
    let run = tokio::process::Command::new("node")
        .arg(dir.join("open-page.mjs"))
        .arg(url)
        .env("PARLEY_CHROMIUM", chromium())
        .current_dir(&dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("the browser finished within 90 s")
        .expect("node runs (make test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the browser run failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = stdout.lines().last().unwrap_or_default();
    let outcome: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    println!("browser console: {}", outcome["console"]);
    outcome["result"].clone()
}

fn page_url(origin: &str, token: Option<&str>) -> String {
    let mut url = format!("{origin}/app.html?api={}", base_url());
    if let Some(token) = token {
        url.push_str(&format!("&token={token}"));
    }
    url
}

#[tokio::test]
async fn a_page_on_an_allowed_origin_chats_and_reads_the_request_id_cross_origin() {
    // GIVEN a web app served from http://127.0.0.1:<port>, an allowed origin
    let origins = setting("PARLEY_CORS_ORIGINS");
    assert!(origins.contains("http://127.0.0.1:*"), "the stack must allow http://127.0.0.1:* (got {origins})");
    let origin = serve_page("127.0.0.1").await;
    assert_ne!(origin, base_url(), "the page and the API must be different origins");

    // WHEN the browser runs it
    let result = open_in_browser(&page_url(&origin, None)).await;

    // THEN it started a session, posted a message and read the response's headers and body
    assert_eq!(result["session_status"], 201, "{result}");
    assert_eq!(result["message_status"], 201, "{result}");
    let request_id = result["message_request_id"].as_str().unwrap_or_default();
    assert!(uuid::Uuid::parse_str(request_id).is_ok(), "x-request-id was not readable: {result}");
    assert!(result["conversation_id"].is_string(), "{result}");
    // AND an error is readable too: a 401 the app cannot see would fail silently
    assert_eq!(result["unauthorized_status"], 401, "{result}");
    assert!(result["unauthorized_request_id"].is_string(), "{result}");
    for step in ["session", "message", "unauthorized"] {
        assert!(result.get(format!("{step}_error")).is_none(), "{step} failed in the browser: {result}");
    }
}

#[tokio::test]
async fn a_page_on_another_origin_is_blocked_by_the_browser() {
    // GIVEN a web app served from http://127.0.0.2:<port>, which the stack does not allow,
    // holding a valid anonymous session token
    let origin = serve_page("127.0.0.2").await;
    let (session, token) = anonymous_session().await;

    // WHEN the browser runs it
    let result = open_in_browser(&page_url(&origin, Some(&token))).await;

    // THEN every call fails in the browser, with nothing readable
    for step in ["session", "message", "unauthorized"] {
        let error = result[format!("{step}_error")].as_str().unwrap_or_default();
        assert!(error.contains("TypeError"), "{step} was not blocked: {result}");
    }
    assert!(result.get("message_request_id").is_none(), "{result}");
    // AND the message was never sent: its preflight was refused, so no conversation exists
    let db = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    let row = db
        .query_one("SELECT count(*) FROM conversations WHERE owner_anonymous_session_id = $1", &[&session])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 0, "a blocked page must not have posted a message");
}
