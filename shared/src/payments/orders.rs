//! Orders: what a checkout sells, at the server's prices, and how it was paid.
//!
//! Guarantees:
//! - an order holds the caller's active cart items at the prices stored with them (never a
//!   client's number); its total is their sum in integer cents;
//! - one checkout per user at a time (a transaction-scoped advisory lock), and a cart item is
//!   in at most one live order (a partial unique index): concurrent checkouts cannot sell an
//!   item twice or debit a wallet twice;
//! - a wallet payment is one transaction: the ledger debit (a `purchase`, referenced by the
//!   order id), the order `PAID` and its items `PURCHASED` — or nothing at all;
//! - status moves forward only (`PENDING → PAID | EXPIRED | FAILED | REFUNDED`,
//!   `PAID → REFUNDED`), enforced by a trigger;
//! - orders are the caller's own (row-level security): someone else's order is "not found".

use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::platform::audit::{self, Entry};
use crate::platform::db::{ToSql, Tx, Type};
use crate::platform::error::ApiError;
use crate::wallets::ledger::{self, Outcome, Reason};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Card,
    Wallet,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Card => "card",
            Method::Wallet => "wallet",
        }
    }
}

/// One cart item as it is sold.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub id: Uuid,
    pub cart_item_id: Uuid,
    pub quote_id: Uuid,
    pub product_id: String,
    pub product_name: String,
    pub premium_cents: i64,
    pub currency: String,
}

/// An order just opened by [`open`], not yet committed.
#[derive(Debug, Clone)]
pub struct Draft {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub lines: Vec<Line>,
    pub total_cents: i64,
    pub currency: String,
}

/// Opens an order for `user_id`'s active cart: 409 when the cart is empty or an item is
/// already in a pending checkout; 410 naming the quotes that expired. Wallet orders are
/// inserted `PAID` (the caller debits in the same transaction); card orders `PENDING`.
pub async fn open(tx: &Tx, user_id: Uuid, method: Method, now: DateTime<Utc>) -> Result<Draft, ApiError> {
    let lock_key = format!("checkout:{user_id}");
    // Parameters are bound first: try_join! holds the futures past their argument expressions.
    let by_owner: [(&(dyn ToSql + Sync), Type); 1] = [(&lock_key, Type::TEXT)];
    let at: [(&(dyn ToSql + Sync), Type); 1] = [(&now, Type::TIMESTAMPTZ)];
    // One round trip: the lock, closing the caller's card orders that never got a Checkout
    // Session (see `fail_checkout`), then the read — in order on one connection.
    let (_, _, rows) = tokio::try_join!(
        tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &by_owner),
        tx.execute("SELECT * FROM fail_sessionless_checkouts(NULL, 100)", &[]),
        tx.query(
            "SELECT i.id, i.quote_id, q.product_id, p.name, i.premium_cents, i.currency, \
                    (q.status <> 'ACTIVE' OR q.expires_at <= $1) AS expired, \
                    (SELECT oi.order_id FROM order_items oi WHERE oi.cart_item_id = i.id AND oi.live) AS held_by \
             FROM quote_cart_items i JOIN quotes q ON q.id = i.quote_id JOIN products p ON p.id = q.product_id \
             WHERE i.status = 'ACTIVE' ORDER BY i.created_at, i.id FOR UPDATE OF i",
            &at,
        ),
    )?;
    if rows.is_empty() {
        return Err(ApiError::new(StatusCode::CONFLICT, "cart-empty", "Cart is empty", "the cart has no active items"));
    }
    if let Some(order) = rows.iter().find_map(|r| r.get::<_, Option<Uuid>>(7)) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "checkout-pending",
            "Checkout pending",
            format!("order {order} is already being paid for these items; finish it or let it expire"),
        )
        .with_extension("order_id", serde_json::json!(order)));
    }
    let expired: Vec<Uuid> = rows.iter().filter(|r| r.get::<_, bool>(6)).map(|r| r.get(1)).collect();
    if !expired.is_empty() {
        let names = expired.iter().map(Uuid::to_string).collect::<Vec<_>>().join(", ");
        return Err(ApiError::new(
            StatusCode::GONE,
            "quotes-expired",
            "Quotes expired",
            format!("these quotes have expired; remove them or ask for new ones: {names}"),
        )
        .with_extension("expired_quote_ids", serde_json::json!(expired)));
    }
    let lines: Vec<Line> = rows
        .iter()
        .map(|r| Line {
            id: Uuid::now_v7(),
            cart_item_id: r.get(0),
            quote_id: r.get(1),
            product_id: r.get(2),
            product_name: r.get(3),
            premium_cents: r.get(4),
            currency: r.get::<_, String>(5).trim().to_owned(),
        })
        .collect();
    let currency = lines[0].currency.clone();
    if lines.iter().any(|l| l.currency != currency) {
        return Err(ApiError::conflict("the cart mixes currencies; check out one currency at a time"));
    }
    let total_cents: i64 = lines.iter().map(|l| l.premium_cents).sum();
    let order_id = Uuid::now_v7();
    let status = match method {
        Method::Card => "PENDING",
        Method::Wallet => "PAID",
    };
    let paid_at = (method == Method::Wallet).then_some(now);
    let method_name = method.as_str();
    let item_ids: Vec<Uuid> = lines.iter().map(|l| l.id).collect();
    let cart_ids: Vec<Uuid> = lines.iter().map(|l| l.cart_item_id).collect();
    let quote_ids: Vec<Uuid> = lines.iter().map(|l| l.quote_id).collect();
    let products: Vec<String> = lines.iter().map(|l| l.product_id.clone()).collect();
    let premiums: Vec<i64> = lines.iter().map(|l| l.premium_cents).collect();
    let order_params: [(&(dyn ToSql + Sync), Type); 7] = [
        (&order_id, Type::UUID),
        (&user_id, Type::UUID),
        (&method_name, Type::TEXT),
        (&status, Type::TEXT),
        (&total_cents, Type::INT8),
        (&currency, Type::BPCHAR),
        (&paid_at, Type::TIMESTAMPTZ),
    ];
    let item_params: [(&(dyn ToSql + Sync), Type); 7] = [
        (&order_id, Type::UUID),
        (&item_ids, Type::UUID_ARRAY),
        (&cart_ids, Type::UUID_ARRAY),
        (&quote_ids, Type::UUID_ARRAY),
        (&products, Type::TEXT_ARRAY),
        (&premiums, Type::INT8_ARRAY),
        (&currency, Type::BPCHAR),
    ];
    tokio::try_join!(
        tx.execute(
            "INSERT INTO orders (id, user_id, method, status, total_cents, currency, paid_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &order_params,
        ),
        tx.execute(
            "INSERT INTO order_items (id, order_id, cart_item_id, quote_id, product_id, premium_cents, currency) \
             SELECT u.id, $1, u.cart_item_id, u.quote_id, u.product_id, u.premium_cents, $7 \
             FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::int8[]) \
                  AS u (id, cart_item_id, quote_id, product_id, premium_cents)",
            &item_params,
        ),
    )?;
    Ok(Draft { order_id, user_id, lines, total_cents, currency })
}

/// Pays `draft` (opened with [`Method::Wallet`]) from the user's wallet and marks its items
/// `PURCHASED`. 402 when the balance is short; 409 when the user has no wallet. On error the
/// caller drops the transaction, so nothing of the order remains.
pub async fn pay_with_wallet(tx: &Tx, draft: &Draft, request_id: Option<&str>) -> Result<i64, ApiError> {
    let wallet = tx
        .query_opt("SELECT id FROM user_wallets WHERE user_id = $1", &[(&draft.user_id, Type::UUID)])
        .await?
        .ok_or_else(|| {
            ApiError::new(StatusCode::CONFLICT, "no-wallet", "No wallet", "create a wallet first (POST /v1/wallets)")
        })?;
    let wallet_id: Uuid = wallet.get(0);
    // A purchase debit referenced by the order: the same order can never be charged twice.
    let reference = format!("order:{}", draft.order_id);
    let (outcome, balance) = ledger::post(tx, wallet_id, -draft.total_cents, Reason::Purchase, &reference).await?;
    match outcome {
        Outcome::Applied => {}
        Outcome::InsufficientFunds => {
            return Err(ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient-funds",
                "Insufficient funds",
                format!("the wallet holds {balance} cents; this order costs {} cents", draft.total_cents),
            )
            .with_extension("balance_cents", serde_json::json!(balance))
            .with_extension("total_cents", serde_json::json!(draft.total_cents)));
        }
        Outcome::Duplicate => return Err(ApiError::conflict("this order was already paid")),
    }
    let cart_ids: Vec<Uuid> = draft.lines.iter().map(|l| l.cart_item_id).collect();
    let details = serde_json::json!({"method": "wallet", "total_cents": draft.total_cents, "items": cart_ids.len()});
    let entry = Entry {
        actor_user_id: Some(draft.user_id),
        action: "order.paid",
        subject_type: "order",
        subject_id: Some(draft.order_id),
        request_id,
        details,
    };
    let items: [(&(dyn ToSql + Sync), Type); 1] = [(&cart_ids, Type::UUID_ARRAY)];
    tokio::try_join!(
        tx.execute("UPDATE quote_cart_items SET status = 'PURCHASED' WHERE id = ANY($1) AND status = 'ACTIVE'", &items),
        audit::record(tx, &entry),
    )?;
    Ok(balance)
}

/// Records the Checkout Session that collects a card order's money. 409 when the order was
/// closed meanwhile (its Stripe calls outlived the two minutes after which a session-less
/// order is failed): nobody has seen that session's page, so it is never paid.
pub async fn attach_checkout_session(
    tx: &Tx,
    order_id: Uuid,
    session_id: &str,
    url: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), ApiError> {
    let attached = tx
        .execute(
            "UPDATE orders SET stripe_checkout_session_id = $2, checkout_url = $3, checkout_expires_at = $4 \
             WHERE id = $1 AND status = 'PENDING' AND stripe_checkout_session_id IS NULL",
            &[(&order_id, Type::UUID), (&session_id, Type::TEXT), (&url, Type::TEXT), (&expires_at, Type::TIMESTAMPTZ)],
        )
        .await?;
    if attached == 0 {
        return Err(ApiError::conflict("this checkout was closed before Stripe answered; check out again"));
    }
    Ok(())
}

/// Closes the caller's card order `order_id` `FAILED` and frees its items, if it is still
/// `PENDING` without a Checkout Session: its Stripe calls failed, so nobody can pay it.
/// Orders left behind by a checkout that died are closed the same way after two minutes,
/// by the user's next checkout ([`open`]) or by the sweep (migration V11).
pub async fn fail_checkout(tx: &Tx, order_id: Uuid) -> Result<bool, ApiError> {
    let closed = tx.execute("SELECT * FROM fail_sessionless_checkouts($1, 1)", &[(&order_id, Type::UUID)]).await?;
    Ok(closed == 1)
}

/// The user's Stripe customer id, when one was created.
pub async fn stripe_customer(tx: &Tx, user_id: Uuid) -> Result<Option<String>, ApiError> {
    let row = tx
        .query_opt("SELECT stripe_customer_id FROM payment_customers WHERE user_id = $1", &[(&user_id, Type::UUID)])
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Remembers the user's Stripe customer. The first one stored wins; returns it.
pub async fn remember_stripe_customer(tx: &Tx, user_id: Uuid, customer_id: &str) -> Result<String, ApiError> {
    tx.execute(
        "INSERT INTO payment_customers (user_id, stripe_customer_id) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING",
        &[(&user_id, Type::UUID), (&customer_id, Type::TEXT)],
    )
    .await?;
    stripe_customer(tx, user_id).await?.ok_or_else(ApiError::internal)
}

/// An order as its owner sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Order {
    pub id: Uuid,
    pub method: String,
    pub status: String,
    pub total_cents: i64,
    pub currency: String,
    pub checkout_url: Option<String>,
    pub checkout_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub items: Vec<OrderItem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderItem {
    pub id: Uuid,
    pub cart_item_id: Uuid,
    pub quote_id: Uuid,
    pub product_id: String,
    pub premium_cents: i64,
    pub currency: String,
}

const ORDER_COLUMNS: &str = "o.id, o.method, o.status, o.total_cents, o.currency, o.checkout_url, \
     o.checkout_expires_at, o.created_at, o.paid_at, \
     coalesce((SELECT jsonb_agg(jsonb_build_object('id', oi.id, 'cart_item_id', oi.cart_item_id, \
         'quote_id', oi.quote_id, 'product_id', oi.product_id, 'premium_cents', oi.premium_cents, \
         'currency', oi.currency) ORDER BY oi.id) FROM order_items oi WHERE oi.order_id = o.id), '[]'::jsonb)";

fn order(row: &Row) -> Result<Order, ApiError> {
    let items: serde_json::Value = row.get(9);
    let items = items
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|i| OrderItem {
            id: i["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or_default(),
            cart_item_id: i["cart_item_id"].as_str().and_then(|s| s.parse().ok()).unwrap_or_default(),
            quote_id: i["quote_id"].as_str().and_then(|s| s.parse().ok()).unwrap_or_default(),
            product_id: i["product_id"].as_str().unwrap_or_default().to_owned(),
            premium_cents: i["premium_cents"].as_i64().unwrap_or_default(),
            currency: i["currency"].as_str().unwrap_or_default().trim().to_owned(),
        })
        .collect();
    Ok(Order {
        id: row.get(0),
        method: row.get(1),
        status: row.get(2),
        total_cents: row.get(3),
        currency: row.get::<_, String>(4).trim().to_owned(),
        checkout_url: row.get(5),
        checkout_expires_at: row.get(6),
        created_at: row.get(7),
        paid_at: row.get(8),
        items,
    })
}

/// One of the caller's orders, or 404.
pub async fn get(tx: &Tx, order_id: Uuid) -> Result<Order, ApiError> {
    let row = tx
        .query_opt(&format!("SELECT {ORDER_COLUMNS} FROM orders o WHERE o.id = $1"), &[(&order_id, Type::UUID)])
        .await?
        .ok_or_else(|| ApiError::not_found("no such order"))?;
    order(&row)
}

/// A page of the caller's orders, newest first.
#[derive(Debug, Serialize)]
pub struct Page {
    pub orders: Vec<Order>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<Uuid>,
}

/// Newest first; `cursor` is the last order id of the previous page (UUIDv7 ids sort by
/// creation time).
pub async fn list(tx: &Tx, cursor: Option<Uuid>, limit: i64) -> Result<Page, ApiError> {
    let fetch = limit + 1;
    let params: [(&(dyn ToSql + Sync), Type); 2] = [(&cursor, Type::UUID), (&fetch, Type::INT8)];
    let rows = tx
        .query(
            &format!(
                "SELECT {ORDER_COLUMNS} FROM orders o WHERE ($1::uuid IS NULL OR o.id < $1) \
                 ORDER BY o.id DESC LIMIT $2"
            ),
            &params,
        )
        .await?;
    let mut orders = rows.iter().map(order).collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if orders.len() as i64 > limit {
        orders.truncate(limit as usize);
        orders.last().map(|o| o.id)
    } else {
        None
    };
    Ok(Page { orders, next_cursor })
}
