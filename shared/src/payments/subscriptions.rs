//! Subscriptions: the plans on sale, a user's current plan (their tier), and Stripe's
//! subscription and invoice state applied to the database.
//!
//! Guarantees:
//! - a user's tier is the plan of a subscription that is `active`, `trialing` or `past_due`
//!   (Stripe keeps retrying a failed renewal during `past_due`, and so do we keep the
//!   plan), else `free`;
//! - webhook effects never apply the object inside an event (events arrive in any order and
//!   may be old): they read the object's **current** state from Stripe under a per-object
//!   lock, and a state read earlier than the stored one is never written
//!   (`stripe_updated_at` is when it was read), so nothing moves backwards;
//! - a change of plan or status is written with an audit entry in the same transaction.
//!
//! Reading from Stripe is behind [`StripeObjects`], implemented by the Stripe client (the
//! `stripe` feature), so this module — and every function that only reads a tier — links
//! no Stripe code.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::Serialize;
use uuid::Uuid;

use crate::platform::audit::{self, Entry};
use crate::platform::config::{self, ConfigError, Source};
use crate::platform::db::{Database, DbError, Tx, Type};
use crate::platform::error::ApiError;
use crate::platform::identity::Caller;

/// The tier of a user without an entitling subscription.
pub const FREE: &str = "free";

/// Subscription statuses that give their plan's tier.
pub const ENTITLED: [&str; 3] = ["active", "trialing", "past_due"];

/// The plans on sale and their Stripe prices: `PARLEY_STRIPE_PLANS`, e.g.
/// `plus:price_1Q…,pro:price_1R…`.
#[derive(Debug, Clone, Default)]
pub struct Plans(Vec<(String, String)>);

impl Plans {
    /// Reads `PARLEY_STRIPE_PLANS` (unset: no plan on sale). Plan names are lower-case
    /// `[a-z][a-z0-9_-]*`, at most 32 characters, and never `free`.
    pub fn from_env(src: &impl Source) -> Result<Self, ConfigError> {
        const NAME: &str = "PARLEY_STRIPE_PLANS";
        let Some(raw) = config::optional(src, NAME) else { return Ok(Self::default()) };
        let mut plans = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (plan, price) = entry
                .split_once(':')
                .map(|(p, q)| (p.trim(), q.trim()))
                .ok_or_else(|| ConfigError::new(NAME, "must list <plan>:<stripe price id>, comma-separated"))?;
            let valid_name = plan.len() <= 32
                && plan.starts_with(|c: char| c.is_ascii_lowercase())
                && plan.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
            if !valid_name || plan == FREE {
                return Err(ConfigError::new(NAME, format!("`{plan}` is not a valid plan name")));
            }
            if !price.starts_with("price_") || plans.iter().any(|(p, q): &(String, String)| p == plan || q == price) {
                return Err(ConfigError::new(NAME, format!("`{plan}:{price}` repeats a plan or is not a price id")));
            }
            plans.push((plan.to_owned(), price.to_owned()));
        }
        Ok(Self(plans))
    }

    pub fn price_of(&self, plan: &str) -> Option<&str> {
        self.0.iter().find(|(p, _)| p == plan).map(|(_, price)| price.as_str())
    }

    pub fn plan_of(&self, price: &str) -> Option<&str> {
        self.0.iter().find(|(_, q)| q == price).map(|(plan, _)| plan.as_str())
    }

    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|(p, _)| p.as_str()).collect()
    }
}

/// A subscription as Stripe reports it now.
#[derive(Debug, Clone)]
pub struct SubscriptionState {
    pub id: String,
    pub customer: String,
    /// `metadata.user_id`, set when Parley opened the subscription's checkout.
    pub user_id: Option<Uuid>,
    /// `metadata.plan`, likewise; the price decides when it is configured.
    pub plan: Option<String>,
    pub status: String,
    pub price_id: Option<String>,
    pub current_period_start: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
}

/// An invoice as Stripe reports it now.
#[derive(Debug, Clone)]
pub struct InvoiceState {
    pub id: String,
    pub customer: String,
    pub subscription: Option<String>,
    pub status: String,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub currency: String,
}

/// Reads Stripe objects' current state. A missing object is a 404 [`ApiError`], an
/// unreachable Stripe a 503.
pub trait StripeObjects: Send + Sync {
    fn subscription<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<SubscriptionState, ApiError>>;
    fn invoice<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<InvoiceState, ApiError>>;
}

/// What `GET /v1/subscriptions/me` answers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Current {
    /// The tier: the subscription's plan while it entitles, else `free`.
    pub plan: String,
    /// The most recent subscription's Stripe status (`null` when there never was one).
    pub status: Option<String>,
    pub subscription_id: Option<String>,
    pub current_period_start: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
}

/// Which of a user's subscriptions counts, among those alike in entitling: the latest period,
/// then the latest change. [`current`] and [`tier`] both order by it, so the plan one shows is
/// the tier the other enforces.
macro_rules! newest_first {
    () => {
        "current_period_end DESC NULLS LAST, updated_at DESC"
    };
}

/// The user's current subscription: an entitling one first, else the most recent.
pub async fn current(tx: &Tx, user_id: Uuid) -> Result<Current, DbError> {
    let row = tx
        .query_opt(
            concat!(
                "SELECT plan, status, stripe_subscription_id, current_period_start, current_period_end, \
                 cancel_at_period_end, status = ANY($2) AS entitled FROM subscriptions WHERE user_id = $1 \
                 ORDER BY status = ANY($2) DESC, ",
                newest_first!(),
                " LIMIT 1"
            ),
            &[(&user_id, Type::UUID), (&ENTITLED.as_slice(), Type::TEXT_ARRAY)],
        )
        .await?;
    Ok(match row {
        None => Current {
            plan: FREE.to_owned(),
            status: None,
            subscription_id: None,
            current_period_start: None,
            current_period_end: None,
            cancel_at_period_end: false,
        },
        Some(r) => Current {
            plan: if r.get::<_, bool>(6) { r.get(0) } else { FREE.to_owned() },
            status: r.get(1),
            subscription_id: r.get(2),
            current_period_start: r.get(3),
            current_period_end: r.get(4),
            cancel_at_period_end: r.get(5),
        },
    })
}

/// The user's tier: `free` unless a subscription entitles them to its plan ([`current`]'s
/// plan). A transaction of its own in one round trip (`BEGIN`, the read and `COMMIT`
/// pipelined), for a request that needs the tier before it can decide anything else.
pub async fn tier(db: &Database, caller: &Caller, user_id: Uuid) -> Result<String, DbError> {
    let rows = db
        .one_shot(
            caller,
            concat!(
                "SELECT plan FROM subscriptions WHERE user_id = $1 AND status = ANY($2) ORDER BY ",
                newest_first!(),
                " LIMIT 1"
            ),
            &[(&user_id, Type::UUID), (&ENTITLED.as_slice(), Type::TEXT_ARRAY)],
        )
        .await?;
    Ok(rows.first().map_or_else(|| FREE.to_owned(), |r| r.get(0)))
}

/// Serialises the effects on one Stripe object for the rest of the transaction, so that the
/// state read after the lock is the newest any concurrent effect can write.
pub async fn lock_object(tx: &Tx, id: &str) -> Result<(), DbError> {
    tx.execute("SELECT pg_advisory_xact_lock(hashtextextended('stripe:' || $1, 0))", &[(&id, Type::TEXT)]).await?;
    Ok(())
}

/// Why a state could not be applied (permanent: retrying will not help).
#[derive(Debug)]
pub enum Refused {
    Db(DbError),
    Permanent(String),
}

impl From<DbError> for Refused {
    fn from(e: DbError) -> Self {
        Refused::Db(e)
    }
}

/// Writes `state` (read from Stripe at `read_at`) unless a state read later is stored.
pub async fn apply_subscription(
    tx: &Tx,
    state: &SubscriptionState,
    plans: &Plans,
    read_at: DateTime<Utc>,
) -> Result<(), Refused> {
    let user_id = match state.user_id {
        Some(u) => u,
        None => user_of_customer(tx, &state.customer).await?,
    };
    let plan = state
        .price_id
        .as_deref()
        .and_then(|p| plans.plan_of(p))
        .map(str::to_owned)
        .or_else(|| state.plan.clone())
        .ok_or_else(|| {
            Refused::Permanent(format!(
                "subscription {} is for price {:?}, which PARLEY_STRIPE_PLANS does not list",
                state.id, state.price_id
            ))
        })?;
    let before = tx
        .query_opt(
            "SELECT plan, status, cancel_at_period_end FROM subscriptions WHERE stripe_subscription_id = $1",
            &[(&state.id, Type::TEXT)],
        )
        .await?;
    let written = tx
        .execute(
            "INSERT INTO subscriptions (stripe_subscription_id, user_id, plan, stripe_price_id, status, \
             current_period_start, current_period_end, cancel_at_period_end, stripe_updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (stripe_subscription_id) DO UPDATE SET plan = EXCLUDED.plan, \
             stripe_price_id = EXCLUDED.stripe_price_id, status = EXCLUDED.status, \
             current_period_start = EXCLUDED.current_period_start, current_period_end = EXCLUDED.current_period_end, \
             cancel_at_period_end = EXCLUDED.cancel_at_period_end, stripe_updated_at = EXCLUDED.stripe_updated_at, \
             updated_at = now() \
             WHERE subscriptions.stripe_updated_at <= EXCLUDED.stripe_updated_at",
            &[
                (&state.id, Type::TEXT),
                (&user_id, Type::UUID),
                (&plan, Type::TEXT),
                (&state.price_id, Type::TEXT),
                (&state.status, Type::TEXT),
                (&state.current_period_start, Type::TIMESTAMPTZ),
                (&state.current_period_end, Type::TIMESTAMPTZ),
                (&state.cancel_at_period_end, Type::BOOL),
                (&read_at, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
    let previous: Option<(String, String, bool)> = before.map(|r| (r.get(0), r.get(1), r.get(2)));
    let changed =
        previous.as_ref().is_none_or(|(p, s, c)| *p != plan || *s != state.status || *c != state.cancel_at_period_end);
    if written == 1 && changed {
        let entry = Entry {
            actor_user_id: Some(user_id),
            action: "subscription.changed",
            subject_type: "subscription",
            subject_id: None,
            request_id: None,
            details: serde_json::json!({
                "stripe_subscription_id": state.id,
                "plan": plan,
                "status": state.status,
                "cancel_at_period_end": state.cancel_at_period_end,
                "previous_status": previous.map(|(_, s, _)| s),
            }),
        };
        audit::record(tx, &entry).await?;
        tracing::info!(subscription = %state.id, %plan, status = %state.status, "subscription changed");
    }
    Ok(())
}

/// Writes an invoice's current state (amounts and status as Stripe reports them now).
pub async fn apply_invoice(tx: &Tx, invoice: &InvoiceState) -> Result<(), Refused> {
    let user_id = user_of_customer(tx, &invoice.customer).await?;
    let currency = invoice.currency.to_ascii_uppercase();
    tx.execute(
        "INSERT INTO invoices (stripe_invoice_id, user_id, stripe_subscription_id, status, amount_due_cents, \
         amount_paid_cents, currency) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (stripe_invoice_id) DO UPDATE SET status = EXCLUDED.status, \
         amount_due_cents = EXCLUDED.amount_due_cents, amount_paid_cents = EXCLUDED.amount_paid_cents, updated_at = now()",
        &[
            (&invoice.id, Type::TEXT),
            (&user_id, Type::UUID),
            (&invoice.subscription, Type::TEXT),
            (&invoice.status, Type::TEXT),
            (&invoice.amount_due, Type::INT8),
            (&invoice.amount_paid, Type::INT8),
            (&currency, Type::BPCHAR),
        ],
    )
    .await?;
    Ok(())
}

async fn user_of_customer(tx: &Tx, customer: &str) -> Result<Uuid, Refused> {
    tx.query_opt("SELECT user_id FROM payment_customers WHERE stripe_customer_id = $1", &[(&customer, Type::TEXT)])
        .await?
        .map(|r| r.get(0))
        .ok_or_else(|| Refused::Permanent(format!("no user for Stripe customer {customer}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn plans(raw: &str) -> Result<Plans, ConfigError> {
        Plans::from_env(&HashMap::from([("PARLEY_STRIPE_PLANS".to_owned(), raw.to_owned())]))
    }

    #[test]
    fn plans_map_names_to_prices_both_ways() {
        let p = plans("plus:price_plus, pro:price_pro").unwrap();
        assert_eq!(p.price_of("pro"), Some("price_pro"));
        assert_eq!(p.plan_of("price_plus"), Some("plus"));
        assert_eq!(p.names(), vec!["plus", "pro"]);
        assert_eq!(p.price_of("free"), None);
    }

    #[test]
    fn bad_plan_lists_are_refused_at_startup() {
        for raw in
            ["plus", "free:price_x", "Plus:price_x", "plus:prod_x", "plus:price_a,plus:price_b", "a:price_x,b:price_x"]
        {
            assert!(plans(raw).is_err(), "{raw}");
        }
    }
}
