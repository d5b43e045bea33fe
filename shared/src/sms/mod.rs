//! SMS through Twilio: phone verification, the outbound outbox, delivery status and
//! inbound messages (see docs/sms.md).
//!
//! Guarantees: a full phone number or a message body never reaches a log line (numbers are
//! [`phone::Phone`], which prints masked; bodies are never logged); webhooks are accepted
//! only with a valid Twilio signature over the configured public URL; a message's delivery
//! status only moves forward (enforced by the database); sending is never part of another
//! effect's transaction — the effect writes a `pending` row, the sender sends after commit.

pub mod inbound;
pub mod outbox;
pub mod phone;
pub mod signature;
pub mod status;
pub mod twilio;
pub mod verification;
pub mod webhook;
