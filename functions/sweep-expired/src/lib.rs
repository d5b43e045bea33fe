//! `sweep-expired` — hourly (EventBridge Scheduler): expires lapsed quotes and the cart
//! items that hold them, closes card orders that never got a Checkout Session, and deletes anonymous sessions that were never claimed and expired
//! more than the retention period ago (`PARLEY_ANONYMOUS_RETENTION_DAYS`, default 7) —
//! with their conversations, quotes and cart items (foreign keys cascade).
//!
//! Runs as the service role, in bounded batches (`PARLEY_SWEEP_BATCH_SIZE`, default 1000),
//! each its own short transaction: a timeout loses at most one batch, and the next run
//! resumes where this one stopped. Rows are taken with `FOR UPDATE SKIP LOCKED`, so two
//! runs at once split the work instead of blocking or counting a row twice. Claimed
//! sessions — and so everything claimed — are never touched. Reads never wait on this
//! job: every reader checks `expires_at` itself.

use serde::Serialize;
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::db::{Database, DbError, ToSql, Type};
use shared::platform::metrics;

pub const FUNCTION: &str = "sweep-expired";

#[derive(Clone)]
pub struct State {
    db: Database,
    batch_size: i64,
    retention_days: i32,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let batch_size: i64 = config::parsed_or(src, "PARLEY_SWEEP_BATCH_SIZE", 1000)?;
        if !(1..=50_000).contains(&batch_size) {
            return Err(ConfigError::new("PARLEY_SWEEP_BATCH_SIZE", "must be from 1 to 50000"));
        }
        let retention_days: i32 = config::parsed_or(src, "PARLEY_ANONYMOUS_RETENTION_DAYS", 7)?;
        if retention_days < 0 {
            return Err(ConfigError::new("PARLEY_ANONYMOUS_RETENTION_DAYS", "must not be negative"));
        }
        Ok(Self { db: Database::from_env(src, "PARLEY_SERVICE_DATABASE_URL")?, batch_size, retention_days })
    }
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    pub quotes_expired: u64,
    pub cart_items_expired: u64,
    pub checkouts_failed: u64,
    pub sessions_deleted: u64,
    pub batches: u64,
}

pub async fn handle(
    state: &State,
    _event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<Report, lambda_runtime::Error> {
    run(state).await.map_err(|e| e.to_string().into())
}

const EXPIRE_QUOTES: &str = "UPDATE quotes SET status = 'EXPIRED' WHERE id IN ( \
     SELECT id FROM quotes WHERE status = 'ACTIVE' AND expires_at <= now() \
     ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)";

// An item in a live order (a card checkout still open) is left alone: the buyer may be
// paying for it right now, and a paid order must be able to mark it PURCHASED. If that
// order closes unpaid, the item is no longer live and the next run expires it.
const EXPIRE_CART_ITEMS: &str = "UPDATE quote_cart_items SET status = 'EXPIRED' WHERE id IN ( \
     SELECT i.id FROM quote_cart_items i JOIN quotes q ON q.id = i.quote_id \
     WHERE i.status = 'ACTIVE' AND q.expires_at <= now() \
       AND NOT EXISTS (SELECT 1 FROM order_items o WHERE o.cart_item_id = i.id AND o.live) \
     LIMIT $1 FOR UPDATE OF i SKIP LOCKED)";

// A card order that never got its Checkout Session (its checkout died between committing
// the order and attaching the session) cannot be paid: closed FAILED after two minutes, its
// items freed (migration V11). Runs before the cart items, which it may free to expire.
const FAIL_SESSIONLESS_CHECKOUTS: &str = "SELECT * FROM fail_sessionless_checkouts(NULL, $1)";

const DELETE_SESSIONS: &str = "DELETE FROM anonymous_sessions WHERE id IN ( \
     SELECT id FROM anonymous_sessions WHERE claimed_by_user_id IS NULL \
       AND expires_at < now() - make_interval(days => $2) \
     ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)";

pub async fn run(state: &State) -> Result<Report, DbError> {
    let mut report = Report::default();
    let batch = [(&state.batch_size as &(dyn ToSql + Sync), Type::INT8)];
    let batch_and_retention =
        [(&state.batch_size as &(dyn ToSql + Sync), Type::INT8), (&state.retention_days, Type::INT4)];
    report.quotes_expired = drain(state, "quotes expired", EXPIRE_QUOTES, &batch, &mut report.batches).await?;
    report.checkouts_failed =
        drain(state, "checkouts without a session failed", FAIL_SESSIONLESS_CHECKOUTS, &batch, &mut report.batches)
            .await?;
    report.cart_items_expired =
        drain(state, "cart items expired", EXPIRE_CART_ITEMS, &batch, &mut report.batches).await?;
    report.sessions_deleted =
        drain(state, "anonymous sessions deleted", DELETE_SESSIONS, &batch_and_retention, &mut report.batches).await?;
    tracing::info!(
        function = FUNCTION,
        quotes_expired = report.quotes_expired,
        cart_items_expired = report.cart_items_expired,
        checkouts_failed = report.checkouts_failed,
        sessions_deleted = report.sessions_deleted,
        batches = report.batches,
        "sweep finished"
    );
    metrics::emit(FUNCTION, "QuotesExpired", report.quotes_expired as f64, "Count");
    metrics::emit(FUNCTION, "SessionsDeleted", report.sessions_deleted as f64, "Count");
    Ok(report)
}

/// Runs `sql` a batch at a time until a batch touches nothing; returns rows touched.
async fn drain(
    state: &State,
    what: &str,
    sql: &str,
    params: &[(&(dyn ToSql + Sync), Type)],
    batches: &mut u64,
) -> Result<u64, DbError> {
    let mut total = 0;
    loop {
        let tx = state.db.begin_service().await?;
        let n = tx.execute(sql, params).await?;
        tx.commit().await?;
        if n == 0 {
            return Ok(total);
        }
        total += n;
        *batches += 1;
        tracing::info!(function = FUNCTION, step = what, batch = n, total, "progress");
    }
}
