//! `GET /health` — is the service alive, and (for operators) can it reach everything it
//! depends on?
//!
//! - `GET /health`: liveness for load balancers and uptime checks. Touches no dependency,
//!   so it answers 200 even while the database is down, and costs nothing to poll.
//! - `GET /health?deep=true`: checks PostgreSQL (`SELECT 1`), KMS (`DescribeKey` on the
//!   wallet key) and DynamoDB (`DescribeTable` on the ephemeral-state table) concurrently,
//!   each within [`CHECK_TIMEOUT`]. 200 when all answer; 503 naming each failing check
//!   otherwise.
//!
//! The body is a health document rather than problem+json: a degraded dependency is a state
//! to report, not an error in the request. `deep` other than `true` or `false` is a 400.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use shared::ApiError;
use shared::platform::aws::{aws_sdk_dynamodb, aws_sdk_kms};
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::db::Database;
use shared::platform::http::{self, Request, Response};

pub const FUNCTION: &str = "health";
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct State {
    db: Database,
    kms: aws_sdk_kms::Client,
    kms_key_id: String,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv).await
    }

    pub async fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let db = Database::from_env(src, "PARLEY_DATABASE_URL")?;
        let kms_key_id = config::required(src, "PARLEY_KMS_KEY_ID")?;
        let table = config::required(src, "PARLEY_TABLE_NAME")?;
        let aws = shared::platform::aws::load().await;
        Ok(Self {
            db,
            kms: shared::platform::aws::kms(&aws),
            kms_key_id,
            dynamodb: shared::platform::aws::dynamodb(&aws),
            table,
        })
    }
}

#[derive(Debug, Serialize)]
struct Checks {
    database: &'static str,
    kms: &'static str,
    dynamodb: &'static str,
}

#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    function: &'static str,
    /// Only in the deep check.
    #[serde(skip_serializing_if = "Option::is_none")]
    checks: Option<Checks>,
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move {
        use lambda_http::RequestExt;
        match req.query_string_parameters().first("deep") {
            None | Some("false") => alive(),
            Some("true") => check(state).await,
            Some(_) => Err(ApiError::bad_request("deep must be true or false")),
        }
    })
    .await
}

/// Liveness: the function runs and answers. No dependency is touched.
fn alive() -> Result<Response, ApiError> {
    http::json(
        http::StatusCode::OK,
        &Health { status: "ok", version: shared::VERSION, function: FUNCTION, checks: None },
    )
}

async fn check(state: &State) -> Result<Response, ApiError> {
    let (database, kms, dynamodb) = tokio::join!(
        probe("database", state.db.ping()),
        probe("kms", state.kms.describe_key().key_id(&state.kms_key_id).send()),
        probe("dynamodb", state.dynamodb.describe_table().table_name(&state.table).send()),
    );
    let checks = Checks { database, kms, dynamodb };
    let healthy = [checks.database, checks.kms, checks.dynamodb].iter().all(|c| *c == "ok");
    let (status, code) =
        if healthy { ("ok", http::StatusCode::OK) } else { ("unavailable", http::StatusCode::SERVICE_UNAVAILABLE) };
    http::json(code, &Health { status, version: shared::VERSION, function: FUNCTION, checks: Some(checks) })
}

/// "ok", or "unavailable" (logged with its cause) when the call fails or times out.
async fn probe<T, E: std::fmt::Display>(name: &'static str, call: impl Future<Output = Result<T, E>>) -> &'static str {
    match tokio::time::timeout(CHECK_TIMEOUT, call).await {
        Ok(Ok(_)) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(check = name, error = %e, "health check failed");
            "unavailable"
        }
        Err(_) => {
            tracing::warn!(check = name, "health check timed out");
            "unavailable"
        }
    }
}
