//! The webhook inbox: provider events applied exactly once, whatever the delivery.
//!
//! Guarantees:
//! - every verified event is stored once (`webhook_events`, unique by provider and event id),
//!   even when its type is unknown or its body does not parse;
//! - its effects and its `processed` mark commit in one transaction, and deliveries of the
//!   same event serialize on its row (`FOR UPDATE`), so a duplicate — sequential or twenty at
//!   once — changes nothing;
//! - a permanent failure (an order that does not exist, an amount that does not match) rolls
//!   back the effects only and stores the event `failed` with its error, to be retried with
//!   backoff; a transient one (the database gone) is returned to the caller, which answers
//!   5xx so the provider delivers again;
//! - effects read the stored raw payload, so a retry or a reconciliation runs exactly the
//!   code the first delivery ran; status changes only move forward (database triggers);
//! - subscription and invoice events apply the object's current state read from Stripe,
//!   never the (possibly old) object inside the event (`super::subscriptions`); Stripe
//!   unreachable is transient, like the database.

use chrono::{Duration, Utc};
use serde::Deserialize;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::subscriptions::{self, Plans, Refused, StripeObjects};
use crate::platform::audit::{self, Entry};
use crate::platform::db::{Database, DbError, ToSql, Tx, Type};
use crate::platform::error::ApiError;
use crate::platform::metrics;
use crate::sms::outbox::{self, Template};

pub const PROVIDER_STRIPE: &str = "stripe";

/// The envelope of a verified event, as far as it could be read.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub event_id: String,
    pub event_type: String,
    pub object_id: Option<String>,
    pub api_version: Option<String>,
    /// The body exactly as received.
    pub payload: String,
}

impl Incoming {
    /// Reads the envelope from a verified body. A body that is not a Stripe event is still
    /// stored: under its content hash and the type `unparseable`.
    pub fn from_payload(payload: String) -> Self {
        #[derive(Deserialize)]
        struct Envelope {
            id: String,
            #[serde(rename = "type")]
            event_type: String,
            api_version: Option<String>,
            data: Option<serde_json::Value>,
        }
        match serde_json::from_str::<Envelope>(&payload) {
            Ok(env) => Incoming {
                object_id: env
                    .data
                    .as_ref()
                    .and_then(|d| d.pointer("/object/id"))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned),
                event_id: env.id,
                event_type: env.event_type,
                api_version: env.api_version,
                payload,
            },
            Err(_) => {
                use sha2::{Digest, Sha256};
                let digest = hex::encode(Sha256::digest(payload.as_bytes()));
                Incoming {
                    event_id: format!("sha256:{digest}"),
                    event_type: "unparseable".to_owned(),
                    object_id: None,
                    api_version: None,
                    payload,
                }
            }
        }
    }
}

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Effects applied (or the type needs none) and marked processed.
    Processed,
    /// Seen and finished before: nothing changed.
    Duplicate,
    /// A permanent failure, stored with its error for the retry job.
    Failed(String),
}

/// What applying an event needs besides the database: the name of the function (for
/// metrics), and for subscription and invoice events, Stripe and the plans on sale.
pub struct Effects<'a> {
    pub function: &'a str,
    pub stripe: &'a dyn StripeObjects,
    pub plans: &'a Plans,
}

/// Why an event's effects could not be applied.
#[derive(Debug)]
pub enum EffectError {
    /// Will fail the same way on every retry: stored `failed`, answered 200.
    Permanent(String),
    /// The database is unavailable: answered 5xx, nothing stored.
    Transient(DbError),
    /// Stripe could not be read: answered 5xx, nothing stored.
    Unavailable(ApiError),
}

impl From<Refused> for EffectError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Db(e) => e.into(),
            Refused::Permanent(why) => EffectError::Permanent(why),
        }
    }
}

impl From<DbError> for EffectError {
    fn from(e: DbError) -> Self {
        match &e {
            DbError::Query(q) => match q.code() {
                Some(c)
                    if c == &SqlState::QUERY_CANCELED
                        || c == &SqlState::T_R_DEADLOCK_DETECTED
                        || c == &SqlState::T_R_SERIALIZATION_FAILURE =>
                {
                    EffectError::Transient(e)
                }
                Some(_) => EffectError::Permanent(e.to_string()),
                None => EffectError::Transient(e),
            },
            DbError::Unavailable(_) => EffectError::Transient(e),
            // Webhooks run as the service role with no anonymous session; should a claimed
            // session's context ever reach here, retrying cannot help.
            DbError::SessionClaimed => EffectError::Permanent(e.to_string()),
            DbError::Misuse(_) => EffectError::Permanent(e.to_string()),
        }
    }
}

/// Stores `incoming` once and applies it. `Err` only for transient failures (503).
pub async fn receive(db: &Database, incoming: &Incoming, effects: &Effects<'_>) -> Result<Applied, ApiError> {
    let tx = db.begin_service().await?;
    process_in(tx, &incoming.event_id, Some(incoming), effects).await
}

/// Applies a stored event again (the retry job, reconciliation). `Err` only for transient
/// failures (503).
pub async fn reprocess(db: &Database, event_id: &str, effects: &Effects<'_>) -> Result<Applied, ApiError> {
    let tx = db.begin_service().await?;
    process_in(tx, event_id, None, effects).await
}

/// Stores `incoming` unless it is stored already.
async fn store(tx: &Tx, incoming: &Incoming) -> Result<(), DbError> {
    tx.execute(
        "INSERT INTO webhook_events (id, provider, event_id, type, object_id, api_version, payload) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (provider, event_id) DO NOTHING",
        &[
            (&Uuid::now_v7(), Type::UUID),
            (&PROVIDER_STRIPE, Type::TEXT),
            (&incoming.event_id, Type::TEXT),
            (&incoming.event_type, Type::TEXT),
            (&incoming.object_id, Type::TEXT),
            (&incoming.api_version, Type::TEXT),
            (&incoming.payload, Type::TEXT),
        ],
    )
    .await
    .map(|_| ())
}

/// Longest wait between two retries of a failed event.
const MAX_BACKOFF_MINUTES: i64 = 6 * 60;

/// Locks the stored event (storing `incoming` first, when given) and applies it, in these
/// round trips: the store, the lock and the effects' savepoint pipelined; the effects' own;
/// the event's new status with `COMMIT` behind it.
async fn process_in(
    tx: Tx,
    event_id: &str,
    incoming: Option<&Incoming>,
    effects: &Effects<'_>,
) -> Result<Applied, ApiError> {
    let by_id: [(&(dyn ToSql + Sync), Type); 2] = [(&PROVIDER_STRIPE, Type::TEXT), (&event_id, Type::TEXT)];
    let stored = async {
        match incoming {
            Some(incoming) => store(&tx, incoming).await,
            None => Ok(()),
        }
    };
    // In this order: the row exists before it is locked; the savepoint (unused by a
    // duplicate, which commits) is set before any effect.
    let ((), row, _) = tokio::try_join!(
        stored,
        tx.query_opt(
            "SELECT status, type, payload, attempts FROM webhook_events \
             WHERE provider = $1 AND event_id = $2 FOR UPDATE",
            &by_id,
        ),
        tx.execute("SAVEPOINT effects", &[]),
    )?;
    let row = row.ok_or_else(|| DbError::Unavailable(format!("event {event_id} vanished")))?;
    let (status, event_type, payload, attempts): (String, String, String, i32) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    if status == "processed" || status == "dead" {
        tx.commit().await?;
        return Ok(Applied::Duplicate);
    }
    let outcome = apply(&tx, &event_type, &payload, effects).await;
    // The outcome is decided: the event's new status carries COMMIT.
    let applied = match outcome {
        Ok(()) => {
            tx.commit_with(tx.execute(
                "UPDATE webhook_events SET status = 'processed', processed_at = now(), attempts = attempts + 1, \
                 last_error = NULL, next_attempt_at = NULL WHERE provider = $1 AND event_id = $2",
                &by_id,
            ))
            .await?;
            Applied::Processed
        }
        Err(EffectError::Permanent(why)) => {
            // Exponential backoff from one minute, capped.
            let wait = Duration::minutes((1_i64 << attempts.clamp(0, 16)).min(MAX_BACKOFF_MINUTES));
            let next = Utc::now() + wait;
            let failed: [(&(dyn ToSql + Sync), Type); 4] = [
                (&PROVIDER_STRIPE, Type::TEXT),
                (&event_id, Type::TEXT),
                (&why, Type::TEXT),
                (&next, Type::TIMESTAMPTZ),
            ];
            tx.commit_with(async {
                tokio::try_join!(
                    tx.execute("ROLLBACK TO SAVEPOINT effects", &[]),
                    tx.execute(
                        "UPDATE webhook_events SET status = 'failed', attempts = attempts + 1, last_error = $3, \
                         next_attempt_at = $4 WHERE provider = $1 AND event_id = $2",
                        &failed,
                    ),
                )
            })
            .await?;
            tracing::warn!(event_id, event_type, error = %why, "webhook event failed; stored for retry");
            Applied::Failed(why)
        }
        Err(EffectError::Transient(e)) => return Err(e.into()),
        Err(EffectError::Unavailable(e)) => return Err(e),
    };
    tx.commit().await?;
    Ok(applied)
}

/// Field access on a Stripe object.
fn text<'a>(object: &'a serde_json::Value, pointer: &str) -> Option<&'a str> {
    object.pointer(pointer).and_then(|v| v.as_str())
}

/// The effects of one event, inside the event's transaction.
async fn apply(tx: &Tx, event_type: &str, payload: &str, effects: &Effects<'_>) -> Result<(), EffectError> {
    let event: serde_json::Value = match serde_json::from_str(payload) {
        Ok(v) => v,
        // Stored for the record; there is nothing to apply.
        Err(_) => return Ok(()),
    };
    let object = event.pointer("/data/object").cloned().unwrap_or_default();
    match event_type {
        // A subscription's Checkout Session pays for no order: its subscription and invoice
        // events carry the effects.
        t if t.starts_with("checkout.session.") && text(&object, "/mode") == Some("subscription") => Ok(()),
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            if text(&object, "/payment_status") == Some("paid") {
                fulfil(tx, &object, effects.function).await?;
            }
            Ok(())
        }
        "checkout.session.async_payment_failed" => close(tx, &object, "FAILED").await,
        "checkout.session.expired" => close(tx, &object, "EXPIRED").await,
        "customer.subscription.created" | "customer.subscription.updated" | "customer.subscription.deleted" => {
            let id = text(&object, "/id").ok_or_else(|| EffectError::Permanent("no subscription id".into()))?;
            apply_current_subscription(tx, id, effects).await
        }
        "invoice.paid" | "invoice.payment_failed" => {
            let id = text(&object, "/id").ok_or_else(|| EffectError::Permanent("no invoice id".into()))?;
            subscriptions::lock_object(tx, id).await?;
            let invoice = effects.stripe.invoice(id).await.map_err(from_stripe)?;
            subscriptions::apply_invoice(tx, &invoice).await?;
            // A failed renewal makes the subscription `past_due` (a paid one `active`
            // again): its current state says which.
            match &invoice.subscription {
                Some(sub) => apply_current_subscription(tx, sub, effects).await,
                None => Ok(()),
            }
        }
        "charge.refunded" => refund(tx, &object).await,
        "payment_method.attached" => attach_card(tx, &object).await,
        "payment_method.detached" => {
            let id = text(&object, "/id").unwrap_or_default();
            tx.execute("DELETE FROM user_payment_methods WHERE stripe_payment_method_id = $1", &[(&id, Type::TEXT)])
                .await?;
            Ok(())
        }
        // Stored and marked processed: nothing in Parley depends on these types (yet).
        _ => Ok(()),
    }
}

/// Reads subscription `id` from Stripe under its lock and writes what it is now.
async fn apply_current_subscription(tx: &Tx, id: &str, effects: &Effects<'_>) -> Result<(), EffectError> {
    subscriptions::lock_object(tx, id).await?;
    let read_at = Utc::now();
    let state = effects.stripe.subscription(id).await.map_err(from_stripe)?;
    Ok(subscriptions::apply_subscription(tx, &state, effects.plans, read_at).await?)
}

/// A Stripe read that failed: an object Stripe does not have is permanent, anything else
/// (Stripe down, the deadline passed) transient.
fn from_stripe(e: ApiError) -> EffectError {
    if e.status == http::StatusCode::NOT_FOUND { EffectError::Permanent(e.detail) } else { EffectError::Unavailable(e) }
}

/// The order a Checkout Session pays for, locked: by the session id stored at checkout,
/// else by `metadata.order_id`.
async fn order_of_session(tx: &Tx, session: &serde_json::Value) -> Result<(Uuid, Uuid, String, i64), EffectError> {
    let session_id = text(session, "/id").unwrap_or_default().to_owned();
    let order_id: Option<Uuid> = text(session, "/metadata/order_id").and_then(|s| s.parse().ok());
    let row = tx
        .query_opt(
            "SELECT id, user_id, status, total_cents FROM orders \
             WHERE stripe_checkout_session_id = $1 OR id = $2 ORDER BY (stripe_checkout_session_id = $1) DESC LIMIT 1 \
             FOR UPDATE",
            &[(&session_id, Type::TEXT), (&order_id, Type::UUID)],
        )
        .await?
        .ok_or_else(|| EffectError::Permanent(format!("no order for checkout session {session_id}")))?;
    Ok((row.get(0), row.get(1), row.get(2), row.get(3)))
}

/// Marks a paid Checkout Session's order `PAID` and its items `PURCHASED`, once.
async fn fulfil(tx: &Tx, session: &serde_json::Value, function: &str) -> Result<(), EffectError> {
    let (order_id, user_id, status, total) = order_of_session(tx, session).await?;
    if status != "PENDING" {
        // Fulfilled before (PAID, REFUNDED), or closed: nothing to do, ever again.
        if status == "EXPIRED" || status == "FAILED" {
            tracing::error!(%order_id, status, "a checkout session was paid for a closed order; refund it by hand");
        }
        return Ok(());
    }
    let amount = session.pointer("/amount_total").and_then(|v| v.as_i64());
    if amount != Some(total) {
        tracing::error!(%order_id, ?amount, total, "checkout amount differs from the order total; not fulfilled");
        metrics::emit(function, "CheckoutAmountMismatch", 1.0, "Count");
        return Err(EffectError::Permanent(format!(
            "amount_total {} differs from the order total {total}",
            amount.map(|a| a.to_string()).unwrap_or_else(|| "null".to_owned())
        )));
    }
    let payment_intent = text(session, "/payment_intent").map(str::to_owned);
    let entry = Entry {
        actor_user_id: Some(user_id),
        action: "order.paid",
        subject_type: "order",
        subject_id: Some(order_id),
        request_id: None,
        details: serde_json::json!({"method": "card", "total_cents": total}),
    };
    // Parameters are bound first: try_join! holds the futures past their argument expressions.
    let paid: [(&(dyn ToSql + Sync), Type); 2] = [(&order_id, Type::UUID), (&payment_intent, Type::TEXT)];
    let by_order: [(&(dyn ToSql + Sync), Type); 1] = [(&order_id, Type::UUID)];
    tokio::try_join!(
        tx.execute(
            "UPDATE orders SET status = 'PAID', paid_at = now(), stripe_payment_intent_id = $2 WHERE id = $1",
            &paid,
        ),
        tx.execute(
            "UPDATE quote_cart_items SET status = 'PURCHASED' \
             WHERE id IN (SELECT cart_item_id FROM order_items WHERE order_id = $1) AND status = 'ACTIVE'",
            &by_order,
        ),
        audit::record(tx, &entry),
    )?;
    // The confirmation SMS is queued with the fulfilment, once per order; the webhook sends
    // it right after commit, and `send-sms` later if that fails (shared::sms::outbox).
    let currency = text(session, "/currency").unwrap_or("usd").to_ascii_uppercase();
    let confirmation =
        Template::OrderConfirmation { reference: order_reference(order_id), total_cents: total, currency };
    outbox::enqueue(tx, user_id, &confirmation, Some(&confirmation_key(order_id))).await?;
    Ok(())
}

/// The outbox key of an order's confirmation SMS: one per order, whatever events arrive.
pub fn confirmation_key(order_id: Uuid) -> String {
    format!("order:{order_id}:confirmation")
}

/// The short reference a buyer sees for an order: the last eight hex digits of its id (the
/// random part of a UUIDv7), upper case.
pub fn order_reference(order_id: Uuid) -> String {
    let hex = order_id.simple().to_string();
    hex[hex.len() - 8..].to_ascii_uppercase()
}

/// The order a Checkout Session event names, if any (for sending its confirmation).
pub fn order_of_event(payload: &str) -> Option<Uuid> {
    let event: serde_json::Value = serde_json::from_str(payload).ok()?;
    let kind = event.pointer("/type")?.as_str()?;
    if !matches!(kind, "checkout.session.completed" | "checkout.session.async_payment_succeeded") {
        return None;
    }
    event.pointer("/data/object/metadata/order_id")?.as_str()?.parse().ok()
}

/// Closes a pending order (`EXPIRED`, `FAILED`): its items leave the order, so they are the
/// cart's to sell again while their quotes hold.
async fn close(tx: &Tx, session: &serde_json::Value, to: &str) -> Result<(), EffectError> {
    let (order_id, _, status, _) = order_of_session(tx, session).await?;
    if status != "PENDING" {
        return Ok(());
    }
    let closed: [(&(dyn ToSql + Sync), Type); 2] = [(&order_id, Type::UUID), (&to, Type::TEXT)];
    let by_order: [(&(dyn ToSql + Sync), Type); 1] = [(&order_id, Type::UUID)];
    tokio::try_join!(
        tx.execute("UPDATE orders SET status = $2 WHERE id = $1", &closed),
        tx.execute("UPDATE order_items SET live = false WHERE order_id = $1", &by_order),
    )?;
    Ok(())
}

/// A fully refunded charge refunds its order.
async fn refund(tx: &Tx, charge: &serde_json::Value) -> Result<(), EffectError> {
    if charge.pointer("/refunded").and_then(|v| v.as_bool()) != Some(true) {
        return Ok(()); // a partial refund leaves the order paid
    }
    let Some(intent) = text(charge, "/payment_intent") else { return Ok(()) };
    let row = tx
        .query_opt(
            "UPDATE orders SET status = 'REFUNDED' WHERE stripe_payment_intent_id = $1 AND status = 'PAID' \
             RETURNING id, user_id, total_cents",
            &[(&intent, Type::TEXT)],
        )
        .await?;
    if let Some(row) = row {
        let entry = Entry {
            actor_user_id: Some(row.get(1)),
            action: "order.refunded",
            subject_type: "order",
            subject_id: Some(row.get(0)),
            request_id: None,
            details: serde_json::json!({"total_cents": row.get::<_, i64>(2)}),
        };
        audit::record(tx, &entry).await?;
    }
    Ok(())
}

/// Keeps what the user may see of a saved card: brand, last four digits, expiry.
async fn attach_card(tx: &Tx, pm: &serde_json::Value) -> Result<(), EffectError> {
    let id = text(pm, "/id").unwrap_or_default();
    let Some(customer) = text(pm, "/customer") else { return Ok(()) };
    let user = tx
        .query_opt("SELECT user_id FROM payment_customers WHERE stripe_customer_id = $1", &[(&customer, Type::TEXT)])
        .await?
        .ok_or_else(|| EffectError::Permanent(format!("no user for Stripe customer {customer}")))?;
    let user_id: Uuid = user.get(0);
    let brand = text(pm, "/card/brand");
    let last4 = text(pm, "/card/last4");
    let exp_month = pm.pointer("/card/exp_month").and_then(|v| v.as_i64()).map(|v| v as i16);
    let exp_year = pm.pointer("/card/exp_year").and_then(|v| v.as_i64()).map(|v| v as i16);
    tx.execute(
        "INSERT INTO user_payment_methods (stripe_payment_method_id, user_id, brand, last4, exp_month, exp_year) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (stripe_payment_method_id) DO UPDATE \
         SET brand = EXCLUDED.brand, last4 = EXCLUDED.last4, exp_month = EXCLUDED.exp_month, exp_year = EXCLUDED.exp_year",
        &[
            (&id, Type::TEXT),
            (&user_id, Type::UUID),
            (&brand, Type::TEXT),
            (&last4, Type::BPCHAR),
            (&exp_month, Type::INT2),
            (&exp_year, Type::INT2),
        ],
    )
    .await?;
    Ok(())
}

/// A failed event whose next attempt is due.
#[derive(Debug, Clone)]
pub struct Due {
    pub event_id: String,
    pub event_type: String,
    pub attempts: i32,
}

/// Failed events due for another attempt, oldest due first; `SKIP LOCKED`, so a delivery
/// or another run busy with one is left to it.
pub async fn due(db: &Database, limit: i64) -> Result<Vec<Due>, DbError> {
    let tx = db.begin_service().await?;
    let rows = tx
        .query(
            "SELECT event_id, type, attempts FROM webhook_events \
             WHERE status = 'failed' AND next_attempt_at <= now() \
             ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED",
            &[(&limit, Type::INT8)],
        )
        .await?;
    tx.commit().await?;
    Ok(rows.iter().map(|r| Due { event_id: r.get(0), event_type: r.get(1), attempts: r.get(2) }).collect())
}

/// Gives up on a failed event: `dead`, with its last error kept for an operator.
pub async fn bury(db: &Database, event_id: &str) -> Result<bool, DbError> {
    let tx = db.begin_service().await?;
    let n = tx
        .execute(
            "UPDATE webhook_events SET status = 'dead', next_attempt_at = NULL \
             WHERE provider = $1 AND event_id = $2 AND status = 'failed'",
            &[(&PROVIDER_STRIPE, Type::TEXT), (&event_id, Type::TEXT)],
        )
        .await?;
    tx.commit().await?;
    Ok(n == 1)
}

/// Which of `event_ids` are not stored yet.
pub async fn unseen(db: &Database, event_ids: &[String]) -> Result<Vec<String>, DbError> {
    let tx = db.begin_service().await?;
    let rows = tx
        .query(
            "SELECT id FROM unnest($2::text[]) AS u (id) \
             WHERE NOT EXISTS (SELECT 1 FROM webhook_events w WHERE w.provider = $1 AND w.event_id = u.id)",
            &[(&PROVIDER_STRIPE, Type::TEXT), (&event_ids, Type::TEXT_ARRAY)],
        )
        .await?;
    tx.commit().await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
