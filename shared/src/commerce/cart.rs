//! The quote cart.
//!
//! Guarantees:
//! - the same quote added twice is the same item — a partial unique index decides
//!   (`INSERT … ON CONFLICT DO NOTHING`), never a read-then-write, so concurrent adds of one
//!   quote make one item;
//! - the item's price is copied from the server-priced quote;
//! - at most [`MAX_ACTIVE_ITEMS`] active items per cart, checked under a per-owner
//!   transaction lock so concurrent adds cannot overshoot;
//! - status moves forward only (`ACTIVE → PURCHASED | EXPIRED | REMOVED`), enforced by a
//!   trigger in the database;
//! - quotes and items are the caller's own (row-level security): someone else's quote or
//!   item is "not found".

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::platform::db::{ToSql, Tx, Type};
use crate::platform::error::ApiError;
use crate::platform::identity::Caller;

pub const MAX_ACTIVE_ITEMS: i64 = 20;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CartItem {
    pub id: Uuid,
    pub quote_id: Uuid,
    pub product_id: String,
    pub flight: ItemFlight,
    pub premium_cents: i64,
    pub coverage_cents: i64,
    pub currency: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub quote_expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ItemFlight {
    pub number: String,
    pub origin: String,
    pub destination: String,
    pub departure_date: NaiveDate,
}

const ITEM_COLUMNS: &str = "i.id, i.quote_id, q.product_id, q.flight_number, q.origin, q.destination, q.departure_date, \
     i.premium_cents, q.coverage_cents, i.currency, i.status, i.created_at, q.expires_at";

fn item(row: &Row) -> CartItem {
    CartItem {
        id: row.get(0),
        quote_id: row.get(1),
        product_id: row.get(2),
        flight: ItemFlight {
            number: row.get(3),
            origin: row.get(4),
            destination: row.get(5),
            departure_date: row.get(6),
        },
        premium_cents: row.get(7),
        coverage_cents: row.get(8),
        currency: row.get::<_, String>(9).trim().to_owned(),
        status: row.get(10),
        created_at: row.get(11),
        quote_expires_at: row.get(12),
    }
}

/// Whether [`add`] created the item or found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Created,
    Existing,
}

/// Adds `quote_id` to the caller's cart. 404: not the caller's quote; 410: the quote has
/// expired; 409: the cart is full. An insert ends the transaction: `COMMIT` travels with it
/// ([`Tx::commit_with`]); the caller's `commit` after it only reports how that went.
pub async fn add(tx: &Tx, caller: &Caller, quote_id: Uuid, now: DateTime<Utc>) -> Result<(CartItem, Added), ApiError> {
    let (owner_user, owner_anon) = caller.owner_columns();
    let owner_key = format!("cart:{}", owner_user.or(owner_anon).map(|u| u.to_string()).unwrap_or_default());
    let by_quote = [(&quote_id as &(dyn ToSql + Sync), Type::UUID)];
    let by_owner = [(&owner_key as &(dyn ToSql + Sync), Type::TEXT)];
    let existing_sql = format!(
        "SELECT {ITEM_COLUMNS} FROM quote_cart_items i JOIN quotes q ON q.id = i.quote_id \
         WHERE i.quote_id = $1 AND i.status IN ('ACTIVE', 'PURCHASED')"
    );
    // One round trip: the lock, then the reads, in order on one connection. (Parameters are
    // bound first: try_join! holds the futures past the end of its argument expressions.)
    let (_, quote, existing, active) = tokio::try_join!(
        tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &by_owner),
        tx.query_opt("SELECT premium_cents, currency, expires_at, status FROM quotes WHERE id = $1", &by_quote),
        tx.query_opt(&existing_sql, &by_quote),
        tx.query_one("SELECT count(*) FROM quote_cart_items WHERE status = 'ACTIVE'", &[]),
    )?;
    let quote = quote.ok_or_else(|| ApiError::not_found("no such quote"))?;
    if let Some(row) = existing {
        return Ok((item(&row), Added::Existing));
    }
    let (premium, currency, expires_at, status): (i64, String, DateTime<Utc>, String) =
        (quote.get(0), quote.get(1), quote.get(2), quote.get(3));
    if status != "ACTIVE" || expires_at <= now {
        return Err(ApiError::new(
            http::StatusCode::GONE,
            "quote-expired",
            "Quote expired",
            "this quote has expired; ask for a new one",
        ));
    }
    if active.get::<_, i64>(0) >= MAX_ACTIVE_ITEMS {
        return Err(ApiError::conflict(format!("the cart already holds {MAX_ACTIVE_ITEMS} items; remove one first")));
    }
    let id = Uuid::now_v7();
    let insert = [
        (&id as &(dyn ToSql + Sync), Type::UUID),
        (&quote_id, Type::UUID),
        (&owner_user, Type::UUID),
        (&owner_anon, Type::UUID),
        (&premium, Type::INT8),
        (&currency, Type::BPCHAR),
    ];
    // One round trip that ends the transaction: the insert, the item read back (the new row,
    // or the one a concurrent request inserted first) and COMMIT, pipelined in that order.
    let (inserted, row) = tx
        .commit_with(async {
            tokio::try_join!(
                tx.query_opt(
                    "INSERT INTO quote_cart_items \
                     (id, quote_id, owner_user_id, owner_anonymous_session_id, premium_cents, currency) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (quote_id) WHERE status IN ('ACTIVE', 'PURCHASED') DO NOTHING RETURNING id",
                    &insert,
                ),
                tx.query_one(&existing_sql, &by_quote),
            )
        })
        .await?;
    let added = if inserted.is_some() { Added::Created } else { Added::Existing };
    Ok((item(&row), added))
}

/// The caller's cart.
#[derive(Debug, Serialize)]
pub struct Cart {
    pub items: Vec<CartItem>,
    pub total_premium_cents: i64,
    pub currency: String,
}

/// Active items whose quote is still valid, oldest first. (Items whose quote lapsed are
/// left out even before the sweep job marks them EXPIRED: correctness never waits on a job.)
pub async fn get(tx: &Tx, now: DateTime<Utc>) -> Result<Cart, ApiError> {
    let rows = tx
        .query(
            &format!(
                "SELECT {ITEM_COLUMNS} FROM quote_cart_items i JOIN quotes q ON q.id = i.quote_id \
                 WHERE i.status = 'ACTIVE' AND q.expires_at > $1 ORDER BY i.created_at, i.id"
            ),
            &[(&now, Type::TIMESTAMPTZ)],
        )
        .await?;
    let items: Vec<CartItem> = rows.iter().map(item).collect();
    let total_premium_cents = items.iter().map(|i| i.premium_cents).sum();
    let currency = items.first().map(|i| i.currency.clone()).unwrap_or_else(|| "USD".to_owned());
    Ok(Cart { items, total_premium_cents, currency })
}

/// Removes an item: 204 whether it was active or already removed; 404 when the caller has
/// no such item; 409 when it was purchased.
pub async fn remove(tx: &Tx, item_id: Uuid) -> Result<(), ApiError> {
    let row = tx
        .query_opt(
            "WITH target AS (SELECT id, status FROM quote_cart_items WHERE id = $1 FOR UPDATE), \
                  removed AS (UPDATE quote_cart_items SET status = 'REMOVED' \
                              WHERE id = $1 AND status = 'ACTIVE' RETURNING id) \
             SELECT status FROM target",
            &[(&item_id, Type::UUID)],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("no such cart item"))?;
    match row.get::<_, &str>(0) {
        "PURCHASED" => Err(ApiError::conflict("this item was purchased and cannot be removed")),
        _ => Ok(()),
    }
}
