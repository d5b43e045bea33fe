//! Payments: orders from the cart, paid by card through Stripe Checkout or from the wallet
//! ledger, and Stripe's webhook events applied exactly once.
//!
//! - [`orders`] — opening an order from the caller's active cart at the server's prices,
//!   the wallet payment, and reading orders back (the API role, row-level security);
//! - [`events`] — the webhook inbox: every verified event stored once, its effects and its
//!   `processed` mark in one transaction (the service role);
//! - [`subscriptions`] — the plans on sale, a user's tier, and Stripe's subscription and
//!   invoice state applied (read current from Stripe, never backwards);
//! - [`stripe`] (cargo feature `stripe`) — the Stripe client and the webhook signature
//!   check, linked only by the functions that talk to Stripe.
//!
//! Design notes, and why each choice: `docs/payments.md`.

pub mod events;
pub mod orders;
#[cfg(feature = "stripe")]
pub mod stripe;
pub mod subscriptions;
