//! The platform: what every function uses and that knows nothing of the product.
//!
//! Nothing here imports a capability module (`crate::chat`, `crate::commerce`, …);
//! `shared/tests/layout.rs` fails the build's tests if something does.

pub mod audit;
pub mod aws;
pub mod breaker;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod idempotency;
pub mod identity;
pub mod metrics;
pub mod outbound;
pub mod ratelimit;
pub mod rds;
pub mod runtime;
pub mod secrets;
pub mod state;
pub mod telemetry;
