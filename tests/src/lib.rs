//! Helpers for the end-to-end tests. Everything here talks to the real stack that
//! `make test` starts (its settings arrive as environment variables); nothing is mocked.

use std::path::PathBuf;
use std::time::Duration;

pub mod anthropic_stub;
pub mod payments;
pub mod promises;

use serde_json::Value;
use uuid::Uuid;

/// A required stack setting. Missing means the test was not started by `make test`,
/// which is a failure, never a silent skip.
pub fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the tests with `make test`"))
}

/// The local gateway's base URL.
pub fn base_url() -> String {
    setting("PARLEY_URL")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client builds")
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    /// The body exactly as it arrived (replays are compared byte for byte).
    pub raw: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// The headers an idempotent replay must repeat: every one but those each response has
    /// of its own (its request id, the replay marker, the date and the framing).
    pub fn replayable_headers(&self) -> Vec<(String, String)> {
        const OWN: [&str; 5] = ["x-request-id", "idempotent-replayed", "date", "content-length", "transfer-encoding"];
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(name, _)| !OWN.contains(&name.as_str()))
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or_default().to_owned()))
            .collect();
        headers.sort();
        headers
    }

    /// Asserts the status (showing the body when it differs) and hands the reply back, so a
    /// request made only for its effect still fails the test when the request failed.
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "body: {}", self.body);
        self
    }

    /// Asserts this is an RFC 9457 problem with `status`.
    pub fn assert_problem(&self, status: u16) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.header("content-type"), "application/problem+json");
        for field in ["type", "title", "detail", "request_id"] {
            assert!(self.body[field].is_string(), "problem lacks {field}: {}", self.body);
        }
        assert_eq!(self.body["status"], status);
        assert_eq!(self.body["request_id"], self.header("x-request-id"));
    }
}

pub async fn send(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.expect("the gateway answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("a body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply { status, headers, body, raw: bytes.to_vec() }
}

pub async fn get(path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = client().get(format!("{}{path}", base_url()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(req).await
}

pub async fn post_json(path: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
    let mut req = client().post(format!("{}{path}", base_url())).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(req).await
}

/// How many signatures the audit log records for `user` (read as the schema owner).
pub async fn signings_recorded(user: Uuid) -> i64 {
    connect(&setting("PARLEY_MIGRATE_DATABASE_URL"))
        .await
        .query_one(
            "SELECT count(*) FROM audit_log WHERE actor_user_id = $1 AND action = 'wallet.message_signed'",
            &[&user],
        )
        .await
        .unwrap()
        .get(0)
}

/// A user token signed with the stack's local HS256 settings.
pub fn user_token(user: Uuid) -> String {
    shared::platform::identity::mint_user_token(
        setting("PARLEY_JWT_SECRET").as_bytes(),
        &setting("PARLEY_JWT_ISSUER"),
        &setting("PARLEY_JWT_AUDIENCE"),
        user,
        Duration::from_secs(600),
    )
}

/// Starts an anonymous session over HTTP; returns (session id, token).
pub async fn anonymous_session() -> (Uuid, String) {
    let reply = send(client().post(format!("{}/v1/sessions/anonymous", base_url()))).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.body["session_id"].as_str().unwrap().parse().unwrap();
    (id, reply.body["token"].as_str().unwrap().to_owned())
}

/// A direct connection as `url`'s role (for raw-SQL checks of what RLS lets through).
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("postgres reachable");
    tokio::spawn(conn);
    client
}

/// A built binary of this workspace (`make test` builds them all first).
pub fn binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("PARLEY_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug"));
    let path = dir.join(name);
    assert!(path.exists(), "{} is not built: run the tests with `make test`", path.display());
    path
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The day the stack's quote rules treat as today: `PARLEY_TODAY` when `make test` runs the
/// calendar passes (as if today were 26 December, then 29 February), else the clock's.
/// Every test whose request names a date derives it from here, so no test expires with
/// the calendar.
pub fn today() -> chrono::NaiveDate {
    match std::env::var("PARLEY_TODAY") {
        Ok(day) => day.parse().unwrap_or_else(|_| panic!("PARLEY_TODAY={day:?} is not a date")),
        Err(_) => chrono::Utc::now().date_naive(),
    }
}

/// `today() + days`.
pub fn days_ahead(days: i64) -> chrono::NaiveDate {
    today() + chrono::Duration::days(days)
}

/// A date the way people write it in chat, without the year: `25 Jan`.
pub fn spoken(date: chrono::NaiveDate) -> String {
    date.format("%-d %b").to_string()
}

/// `authorization: Bearer <token>` for `user`.
pub fn as_user(user: Uuid) -> Vec<(String, String)> {
    vec![("authorization".into(), format!("Bearer {}", user_token(user)))]
}

/// `x-anonymous-session: <token>`.
pub fn as_anonymous(token: &str) -> Vec<(String, String)> {
    vec![("x-anonymous-session".into(), token.to_owned())]
}

fn with_headers(mut req: reqwest::RequestBuilder, headers: &[(String, String)]) -> reqwest::RequestBuilder {
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req
}

/// POST /v1/chat/messages.
pub async fn post_message(who: &[(String, String)], content: &str, conversation: Option<Uuid>) -> Reply {
    post_message_with(&client(), who, content, conversation).await
}

pub async fn post_message_with(
    client: &reqwest::Client,
    who: &[(String, String)],
    content: &str,
    conversation: Option<Uuid>,
) -> Reply {
    let mut body = serde_json::json!({ "content": content });
    if let Some(id) = conversation {
        body["conversation_id"] = serde_json::json!(id);
    }
    send(with_headers(client.post(format!("{}/v1/chat/messages", base_url())).json(&body), who)).await
}

/// GET with credentials.
pub async fn get_as(path: &str, who: &[(String, String)]) -> Reply {
    send(with_headers(client().get(format!("{}{path}", base_url())), who)).await
}

/// POST without a body, with credentials.
pub async fn post_as(path: &str, who: &[(String, String)]) -> Reply {
    send(with_headers(client().post(format!("{}{path}", base_url())), who)).await
}

/// POST a JSON body, with credentials.
pub async fn post_json_as(path: &str, who: &[(String, String)], body: &serde_json::Value) -> Reply {
    send(with_headers(client().post(format!("{}{path}", base_url())).json(body), who)).await
}

/// DELETE, with credentials.
pub async fn delete_as(path: &str, who: &[(String, String)]) -> Reply {
    send(with_headers(client().delete(format!("{}{path}", base_url())), who)).await
}

/// Headers as a reqwest map.
pub fn header_map(who: &[(String, String)]) -> reqwest::header::HeaderMap {
    who.iter()
        .map(|(k, v)| (reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap()))
        .collect()
}

/// The process environment (the stack's settings) with some settings replaced, for
/// building a function's `State` in-process with a twist.
pub fn env_with(overrides: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    let mut env: std::collections::HashMap<String, String> = std::env::vars().collect();
    for (k, v) in overrides {
        env.insert(k.to_string(), v.to_string());
    }
    env
}

/// A loopback server that accepts every connection and never sends a byte (a dependency
/// that hangs); its `http://` base URL.
pub async fn hanging_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    format!("http://{address}")
}

/// The states of the database connections opened under `application_name` (a test gives
/// a function's `State` a name of its own to watch just that state's connections).
pub async fn connection_states(application_name: &str) -> Vec<String> {
    let db = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    db.query("SELECT state FROM pg_stat_activity WHERE application_name = $1", &[&application_name])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, Option<String>>(0).unwrap_or_default())
        .collect()
}

/// A loopback port nothing listens on (for "dependency unreachable" tests).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An in-process request to a handler, as the gateway would build it: `method uri` with
/// `Authorization: Bearer <token>` and, when given, a JSON body.
pub fn bearer_request(method: &str, uri: &str, token: &str, json: Option<&Value>) -> lambda_http::Request {
    let builder = http::Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {token}"));
    match json {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(lambda_http::Body::from(body.to_string()))
            .expect("a valid request"),
        None => builder.body(lambda_http::Body::Empty).expect("a valid request"),
    }
}

/// The JSON body of a handler's response.
pub fn body_json(resp: &shared::platform::http::Response) -> Value {
    match resp.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("expected a JSON text body, got {other:?}"),
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A second local gateway, started with the stack's settings and some replaced, so a test
/// can drive every function's real `State::from_env` wiring under a broken dependency
/// (e.g. `AWS_ENDPOINT_URL_DYNAMODB` at a closed port). Stopped when dropped.
pub struct Gateway {
    child: std::process::Child,
    pub url: String,
    dir: TempDir,
}

impl Gateway {
    pub fn start(overrides: &[(&str, &str)]) -> Gateway {
        let dir = TempDir::new("gateway");
        let port_file = dir.0.join("port");
        let log = std::fs::File::create(dir.0.join("gateway.log")).unwrap();
        let child = std::process::Command::new(binary("parley-local"))
            .args(["serve", "--addr", "127.0.0.1:0", "--port-file"])
            .arg(&port_file)
            .envs(overrides.iter().copied())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("parley-local starts");
        let started = std::time::Instant::now();
        let port = loop {
            if let Ok(port) = std::fs::read_to_string(&port_file)
                && !port.trim().is_empty()
            {
                break port.trim().to_owned();
            }
            if started.elapsed() > Duration::from_secs(30) {
                panic!(
                    "the second gateway did not start: {}",
                    std::fs::read_to_string(dir.0.join("gateway.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Gateway { child, url: format!("http://127.0.0.1:{port}"), dir }
    }

    /// Everything this gateway has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("gateway.log")).unwrap_or_default()
    }

    /// A request to this gateway, with credentials.
    pub fn request(&self, method: reqwest::Method, path: &str, who: &[(String, String)]) -> reqwest::RequestBuilder {
        with_headers(client().request(method, format!("{}{path}", self.url)), who)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("parley-{prefix}-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Serves `file` (under tests/data/jwks) as an identity provider's JWKS on loopback; returns
/// its URL and how many times it was fetched.
pub async fn serve_jwks(file: &str) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let jwks = std::fs::read_to_string(repo().join("tests/data/jwks").join(file)).unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (jwks, counter) = (jwks.clone(), counter.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let body = jwks.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "application/json")
                                .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (url, hits)
}
