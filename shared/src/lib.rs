//! Parley's shared crate: everything two functions would otherwise both write.
//!
//! The tree is the architecture (`docs/architecture.md` draws it):
//!
//! - [`platform`] — what every function uses and that knows nothing of the product:
//!   settings, start-up, telemetry, the HTTP edge and errors, the database and its RLS
//!   context, AWS clients, outbound HTTPS, identity, rate limits, idempotency, the circuit
//!   breaker, metrics and the audit log.
//! - one module per capability, named as the product speaks: [`sessions`], [`chat`],
//!   [`commerce`], [`wallets`], [`tone`], [`sms`].
//!
//! Dependencies point one way: capabilities use the platform, the platform uses no
//! capability, and a capability uses another only where the product needs it (chat → tone,
//! commerce → chat for the assistant's reply). `shared/tests/layout.rs` enforces both rules.
//!
//! A function's `lib.rs` builds its `State` from these pieces once per cold start and
//! serves requests through [`platform::http::serve`]. Each module's first doc comment says
//! what it guarantees.

pub mod platform;

pub mod chat;
pub mod commerce;
pub mod payments;
pub mod sessions;
pub mod sms;
pub mod tone;
pub mod wallets;

pub use platform::error::{ApiError, FieldError};

/// The version every function reports (`GET /health`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
