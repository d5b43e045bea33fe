//! Parley's shared crate: everything two functions would otherwise both write.
//!
//! A function's `lib.rs` builds its `State` from these pieces once per cold start and
//! serves requests through [`http::serve`]. Each module's first doc comment says what it
//! guarantees.

pub mod airports;
pub mod assistant;
pub mod audit;
pub mod aws;
pub mod breaker;
pub mod cart;
pub mod chain;
pub mod chat;
pub mod claude;
pub mod config;
pub mod custody;
pub mod db;
pub mod error;
pub mod flights;
pub mod http;
pub mod idempotency;
pub mod identity;
pub mod ledger;
pub mod metrics;
pub mod outbound;
pub mod pii;
pub mod pricing;
pub mod quotes;
pub mod ratelimit;
pub mod runtime;
pub mod sessions;
pub mod state;
pub mod telemetry;
pub mod tone;
pub mod tone_service;
pub mod wallet;
pub mod wallets;

pub use error::{ApiError, FieldError};

/// The version every function reports (`GET /health`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
