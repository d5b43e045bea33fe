//! Tone: how heated a message is, and what a deployment does about it.
//!
//! - [`analysis`] — the answer any analyzer gives ([`Analysis`], [`ConflictLevel`]);
//! - [`analyzer`] — the local analyzer: deterministic, offline, always available;
//! - [`claude`] — Claude as the analyzer when configured, with personal data removed first
//!   by [`redact`];
//! - [`service`] — choosing between them (budget, circuit breaker, fallback) and the chat
//!   tone policy.

pub mod analysis;
pub mod analyzer;
pub mod claude;
pub mod redact;
pub mod service;

pub use analysis::{Analysis, ConflictLevel, Indicator, IndicatorKind};
pub use analyzer::analyze;
