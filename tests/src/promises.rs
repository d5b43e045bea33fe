//! Helpers for the promise tests (`tests/tests/promises_*.rs`, `log_audit.rs`): real API
//! Gateway v2 events for in-process calls, a database of a test's own (for exact counts that
//! tests running beside it cannot disturb), and a gateway process of a test's own started with
//! a twisted environment (for outages the functions' `State::from_source` cannot express:
//! the AWS SDK reads `AWS_ENDPOINT_URL` from the process environment, not from the map).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use crate::{binary, connect, env_with, setting};

/// An API Gateway HTTP API (payload 2.0) event, built the way `events/*/*.json` are, and
/// parsed by `lambda_http` exactly as Lambda would hand it to a function.
pub fn apigw_request(
    method: &str,
    path: &str,
    route_key: &str,
    headers: &[(String, String)],
    body: Option<&str>,
) -> lambda_http::Request {
    let mut all: serde_json::Map<String, serde_json::Value> = [
        ("accept", "application/json"),
        ("host", "abc123.execute-api.eu-west-1.amazonaws.com"),
        ("user-agent", "parley-e2e"),
        ("x-forwarded-for", "203.0.113.7"),
        ("x-forwarded-proto", "https"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), json!(v)))
    .collect();
    for (k, v) in headers {
        all.insert(k.to_ascii_lowercase(), json!(v));
    }
    if let Some(b) = body {
        all.insert("content-type".into(), json!("application/json"));
        all.insert("content-length".into(), json!(b.len().to_string()));
    }
    let now = chrono::Utc::now();
    let event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": all,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "parley-e2e"},
            "requestId": Uuid::now_v7().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": false,
        "body": body,
    });
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway v2 event")
}

/// A response's status, headers and raw body bytes.
pub fn parts(resp: &shared::platform::http::Response) -> (u16, String) {
    let body = match resp.body() {
        lambda_http::Body::Text(t) => t.clone(),
        lambda_http::Body::Empty => String::new(),
        other => panic!("expected a text body, got {other:?}"),
    };
    (resp.status().as_u16(), body)
}

/// `url` (a postgres URL of the stack) pointed at database `db`.
fn with_database(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("a postgres URL names its database");
    format!("{base}/{db}")
}

/// A database of the test's own in the stack's cluster, migrated by the real migrations (the
/// roles are cluster-wide, so the stack's role logins work in it). Functions built from
/// [`OwnDatabase::env`] see only the rows the test puts there.
pub struct OwnDatabase {
    pub name: String,
}

const DATABASE_SETTINGS: [&str; 4] =
    ["DATABASE_URL", "PARLEY_DATABASE_URL", "PARLEY_SERVICE_DATABASE_URL", "PARLEY_MIGRATE_DATABASE_URL"];

impl OwnDatabase {
    pub async fn create(purpose: &str) -> Self {
        let own = Self::create_empty(purpose).await;
        shared::platform::db::migrations::run(
            &own.url("PARLEY_MIGRATE_DATABASE_URL"),
            &shared::platform::db::SignIn::Password,
            "local",
            &[],
        )
        .await
        .expect("the migrations apply to a fresh database");
        own
    }

    /// A database of the test's own with nothing in it, not even the migrations.
    pub async fn create_empty(purpose: &str) -> Self {
        let name = format!("parley_{purpose}_{}", Uuid::now_v7().simple());
        let admin = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
        admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0")).await.expect("CREATE DATABASE");
        Self { name }
    }

    /// The stack's `setting` (one of the database URLs) pointed at this database.
    pub fn url(&self, setting_name: &str) -> String {
        with_database(&setting(setting_name), &self.name)
    }

    /// The stack's environment with every database URL pointed at this database.
    pub fn env(&self, overrides: &[(&str, &str)]) -> HashMap<String, String> {
        let mut env = env_with(overrides);
        for name in DATABASE_SETTINGS {
            env.insert(name.to_owned(), self.url(name));
        }
        env
    }

    /// A connection as the schema owner.
    pub async fn owner(&self) -> tokio_postgres::Client {
        connect(&self.url("PARLEY_MIGRATE_DATABASE_URL")).await
    }

    /// Drops the database (a failed test leaves it to the stack's teardown).
    pub async fn drop_now(self) {
        let admin = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
            .await
            .expect("DROP DATABASE");
    }
}

/// A `parley-local serve` process of the test's own, with the stack's environment and
/// `overrides`; killed when dropped.
pub struct OwnGateway {
    pub url: String,
    _child: tokio::process::Child,
    dir: PathBuf,
}

impl OwnGateway {
    pub async fn start(overrides: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("parley-gateway-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let port_file = dir.join("port");
        let log = std::fs::File::create(dir.join("gateway.log")).unwrap();
        let child = tokio::process::Command::new(binary("parley-local"))
            .arg("serve")
            .arg("--addr")
            .arg("127.0.0.1:0")
            .arg("--port-file")
            .arg(&port_file)
            .env_clear()
            .envs(env_with(overrides))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("parley-local starts");
        for _ in 0..300 {
            if let Ok(port) = std::fs::read_to_string(&port_file)
                && !port.trim().is_empty()
            {
                return Self { url: format!("http://127.0.0.1:{}", port.trim()), _child: child, dir };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the gateway did not start: {}", std::fs::read_to_string(dir.join("gateway.log")).unwrap_or_default());
    }

    /// Everything the gateway logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("gateway.log")).unwrap_or_default()
    }
}

impl Drop for OwnGateway {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A string the log canary test (`promises_logs.rs`) sends in a header, a query string, a
/// body and an `Idempotency-Key`, and that the log audit (`log_audit.rs`) must find in no log
/// line.
pub const LOG_CANARY: &str = "parley-log-canary-q7x2v9";

/// Where the log canary test lists the request ids of its requests, for the audit to find
/// their log lines: beside the gateway's log (`PARLEY_GATEWAY_LOG`, set by scripts/test.sh).
pub fn log_canary_requests_file() -> PathBuf {
    let log = PathBuf::from(setting("PARLEY_GATEWAY_LOG"));
    log.with_file_name("log-canary-requests.txt")
}
