//! `migrate` — applies the embedded schema migrations; invoked once per deploy
//! (`sam remote invoke MigrateFunction`) and by the local stack scripts.
//!
//! Connects as the schema owner (`PARLEY_MIGRATE_DATABASE_URL`), never as an API role.
//! Idempotent: already-applied migrations are skipped, and a changed applied migration
//! aborts the run rather than diverging. One run at a time (an advisory lock); a database
//! already migrated by a newer release is left as it is
//! ([`shared::platform::db::migrations`]).
//!
//! With `PARLEY_API_DB_SECRET_ARN` / `PARLEY_SERVICE_DB_SECRET_ARN` (Secrets Manager,
//! `{"username", "password"}`), each run also creates those logins or sets their passwords,
//! as members of `parley_app` / `parley_service`. Any failure is the invocation's error, so
//! the deploy that invoked it fails.

use serde::{Deserialize, Serialize};
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::db::SignIn;
use shared::platform::db::migrations::Login;

pub const FUNCTION: &str = "migrate";

#[derive(Clone)]
pub struct State {
    url: String,
    /// The URL's password, or an RDS IAM token (`PARLEY_DB_IAM_AUTH=true`).
    sign_in: SignIn,
    /// `PARLEY_STAGE` (default `local`), recorded in the database for its own checks.
    stage: String,
    /// Login secrets and the group each login joins.
    logins: Vec<(String, &'static str)>,
}

/// The login secrets: the setting, and the group its login joins.
const LOGIN_SECRETS: [(&str, &str); 2] =
    [("PARLEY_API_DB_SECRET_ARN", "parley_app"), ("PARLEY_SERVICE_DB_SECRET_ARN", "parley_service")];

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let url = config::required(src, "PARLEY_MIGRATE_DATABASE_URL")?;
        let sign_in = SignIn::from_env(src)?;
        shared::platform::db::checked_config(&url, &sign_in)
            .map_err(|problem| ConfigError::new("PARLEY_MIGRATE_DATABASE_URL", problem))?;
        let stage = config::optional(src, "PARLEY_STAGE").unwrap_or_else(|| "local".to_owned());
        if stage.is_empty()
            || stage.len() > 32
            || !stage.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ConfigError::new("PARLEY_STAGE", "must be 1-32 of a-z, 0-9 and -"));
        }
        let mut logins = Vec::new();
        for (name, group) in LOGIN_SECRETS {
            if let Some(arn) = config::optional(src, name) {
                if !arn.starts_with("arn:") || !arn.contains(":secretsmanager:") {
                    return Err(ConfigError::new(name, "is not a Secrets Manager secret ARN"));
                }
                logins.push((arn.trim().to_owned(), group));
            }
        }
        Ok(Self { url, sign_in, stage, logins })
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub applied: Vec<String>,
}

/// Applies pending migrations; the event's content is ignored.
pub async fn handle(
    state: &State,
    _event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<Report, lambda_runtime::Error> {
    run(state).await.map_err(Into::into)
}

pub async fn run(state: &State) -> Result<Report, String> {
    let mut logins = Vec::with_capacity(state.logins.len());
    for (arn, group) in &state.logins {
        logins.push(login(arn, group).await?);
    }
    let applied = shared::platform::db::migrations::run(&state.url, &state.sign_in, &state.stage, &logins).await?;
    tracing::info!(function = FUNCTION, count = applied.len(), applied = ?applied, "migrations applied");
    Ok(Report { applied })
}

/// A login secret as RDS and the data stack write it; other fields are ignored.
#[derive(Deserialize)]
struct LoginSecret {
    username: String,
    password: String,
}

/// Reads one login secret. Errors name the group and say what is wrong, never the value.
async fn login(arn: &str, group: &'static str) -> Result<Login, String> {
    let text = zeroize::Zeroizing::new(
        shared::platform::secrets::fetch_once(arn).await.map_err(|e| format!("the {group} login secret: {e}"))?,
    );
    // serde's messages can quote the input; say only where it failed.
    let parsed: LoginSecret = serde_json::from_str(&text).map_err(|e| {
        format!(
            "the {group} login secret is not {{\"username\", \"password\"}} JSON ({:?} error at column {})",
            e.classify(),
            e.column()
        )
    })?;
    if parsed.password.is_empty() {
        return Err(format!("the {group} login secret has an empty password"));
    }
    Ok(Login { username: parsed.username, password: zeroize::Zeroizing::new(parsed.password), group })
}
