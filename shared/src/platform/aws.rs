//! AWS SDK clients (KMS, DynamoDB, Secrets Manager), configured once per cold start.
//!
//! Guarantees: loading makes no network call (credentials resolve on first use; in Lambda
//! they are in the environment); every SDK call has a connect timeout, an attempt timeout
//! and an overall timeout, and the SDK's standard retry mode (bounded, exponential backoff
//! with jitter on throttling and 5xx). `AWS_ENDPOINT_URL` points every client at a local
//! emulator (moto) without code changes — the SDK reads it itself.

use std::time::Duration;

use aws_config::{BehaviorVersion, retry::RetryConfig, timeout::TimeoutConfig};

pub use aws_config::SdkConfig;

/// The shared SDK configuration. Call once in `State::from_env`.
pub async fn load() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

/// The shared configuration, loaded once per instance on first use, for what runs outside
/// any function's `State` (a secret's first fetch, a database connection's IAM token).
pub async fn shared_config() -> &'static SdkConfig {
    static CONFIG: tokio::sync::OnceCell<SdkConfig> = tokio::sync::OnceCell::const_new();
    CONFIG.get_or_init(load).await
}

pub fn kms(config: &SdkConfig) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(config)
}

pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

pub fn secretsmanager(config: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(config)
}

pub use aws_sdk_dynamodb;
pub use aws_sdk_kms;
pub use aws_sdk_secretsmanager;

/// A one-line description of an SDK error: the service's error code and message when the
/// service answered, the transport failure otherwise. (`Display` on SDK errors says only
/// "service error".)
pub fn describe<E, R>(err: &aws_sdk_kms::error::SdkError<E, R>) -> String
where
    E: std::error::Error + aws_sdk_kms::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match err.as_service_error() {
        Some(service) => format!("{}: {}", service.code().unwrap_or("unknown"), service.message().unwrap_or("")),
        None => aws_sdk_kms::error::DisplayErrorContext(err).to_string(),
    }
}
