//! AWS SDK clients (KMS, DynamoDB, Secrets Manager), configured once per cold start.
//!
//! Guarantees: loading makes no network call (credentials resolve on first use; in Lambda
//! they are in the environment); every SDK call has a connect timeout, an attempt timeout
//! and an overall timeout, and the SDK's standard retry mode (bounded, exponential backoff
//! with jitter on throttling and 5xx). `AWS_ENDPOINT_URL` points every client at a local
//! emulator (moto) without code changes — the SDK reads it itself;
//! - TLS to AWS trusts the Amazon Trust Services roots compiled in
//!   (`shared/certs/aws-trust-services.pem`), not the system's: the SDK's default client
//!   reads every file in `/etc/ssl/certs` when a client is built — at init, a few
//!   milliseconds of every AWS function's cold start (docs/performance.md) — and the
//!   answer would depend on the image. Every AWS endpoint in the commercial and GovCloud
//!   partitions, and every VPC endpoint, chains to these roots.

use std::time::Duration;

use aws_config::{BehaviorVersion, retry::RetryConfig, timeout::TimeoutConfig};
use aws_smithy_http_client::tls;

pub use aws_config::SdkConfig;

/// The roots AWS's endpoints chain to (see the module's guarantees).
const AMAZON_ROOTS: &str = include_str!("../../certs/aws-trust-services.pem");

/// The shared SDK configuration. Call once in `State::from_env`.
pub async fn load() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
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

/// The SDK's default HTTPS client (rustls with aws-lc, HTTP and HTTPS), trusting only
/// [`AMAZON_ROOTS`].
fn http_client() -> aws_sdk_kms::config::SharedHttpClient {
    let trust = tls::TrustStore::empty().with_native_roots(false).with_pem_certificate(AMAZON_ROOTS);
    let context = tls::TlsContext::builder().with_trust_store(trust).build().expect("a trust store without names");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
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

#[cfg(test)]
mod tests {
    use super::AMAZON_ROOTS;
    use sha2::Digest;

    #[test]
    fn the_compiled_in_roots_are_amazons_by_fingerprint() {
        // The SHA-256 fingerprints https://www.amazontrust.com/repository/ publishes.
        let published = [
            "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e", // Amazon Root CA 1
            "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4", // Amazon Root CA 2
            "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4", // Amazon Root CA 3
            "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092", // Amazon Root CA 4
            "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5", // Starfield Services G2
        ];
        let ders: Vec<_> = rustls::pki_types::pem::PemObject::pem_slice_iter(AMAZON_ROOTS.as_bytes())
            .collect::<Result<Vec<rustls::pki_types::CertificateDer<'static>>, _>>()
            .expect("valid PEM");
        let found: Vec<String> = ders.iter().map(|d| hex::encode(sha2::Sha256::digest(d))).collect();
        assert_eq!(found, published);
    }

    #[tokio::test]
    async fn the_sdk_clients_build_with_them() {
        // Building a client builds its connector, which parses the trust store.
        let config = super::load().await;
        let _ = super::dynamodb(&config);
    }
}
