//! PostgreSQL: a small pool per Lambda instance and one transaction per request.
//!
//! Guarantees:
//! - init never waits for the database: in a Lambda execution environment the function's
//!   pool starts opening its first connection in the background while init goes on (design
//!   brief §6), and the first query waits for that connection instead of opening a second
//!   one beside it; elsewhere (tests, the local gateway) the first query opens it. Later
//!   queries reuse it;
//! - every request's work runs in one transaction that first sets `app.user_id` and
//!   `app.anonymous_session_id` (transaction-local), so row-level security sees exactly the
//!   caller, and a handler that forgets a `WHERE` still cannot read another caller's rows;
//! - opening the transaction and setting its context and statement timeout cost no round
//!   trip of their own: they travel with the first statement; where nothing in the last
//!   statements' answers could make the handler roll back, `COMMIT` travels with them
//!   ([`Database::begin_single`], [`Tx::commit_with`]);
//! - a transaction dropped without `commit` (an early `?`, a panic, a cancelled future) is
//!   rolled back before its connection can serve anyone else, so no context or half-written
//!   state leaks between requests;
//! - TLS is required for every host that is not loopback (`sslmode=require`, refused at
//!   configuration otherwise, so never silently plaintext); roots are compiled in
//!   (webpki-roots for RDS Proxy's ACM certificate, and RDS's own CAs for direct
//!   connections, [`crate::platform::rds`]), built on the first connect rather than at init;
//! - with `PARLEY_DB_IAM_AUTH=true` every new connection signs in with a fresh RDS IAM token
//!   (the URL carries no password); a token is never reused or logged.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};

pub use tokio_postgres::Config as PgConfig;
pub use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
pub use tokio_postgres::types::{ToSql, Type};

use crate::platform::config::{self, ConfigError, Source};
use crate::platform::error::ApiError;
use crate::platform::identity::Caller;

/// SQLSTATE of app_require_live_session (migrations/V5): the anonymous session was claimed.
const CLAIMED_SESSION: &str = "PA401";

/// How long one statement may run before PostgreSQL cancels it.
const STATEMENT_TIMEOUT_MS: u32 = 5_000;

/// A pool of connections for one database role.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    /// The first connection, opening in the background since init ([`Database::from_env`]
    /// in Lambda). The first query takes this and waits for it; later ones find it gone.
    opening: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

#[derive(Debug)]
pub enum DbError {
    Unavailable(String),
    Query(tokio_postgres::Error),
    /// The anonymous caller's session was claimed (app_require_live_session refused it).
    SessionClaimed,
    /// A statement, stream or rollback after the transaction's `COMMIT` was sent
    /// ([`Database::begin_single`], [`Tx::commit_with`]): our bug, caught before anything
    /// reached the database.
    Misuse(&'static str),
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        DbError::Query(e)
    }
}

/// Says what went wrong with the SQLSTATE and the server's message — never its `DETAIL`,
/// which can quote row values (an email in a unique-violation detail, say).
impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Unavailable(why) => write!(f, "database unavailable: {why}"),
            DbError::SessionClaimed => write!(f, "the anonymous session was claimed"),
            DbError::Misuse(what) => write!(f, "transaction misused: {what}"),
            DbError::Query(e) => match e.as_db_error() {
                Some(db) => write!(f, "database error {}: {}", db.code().code(), db.message()),
                None => write!(f, "database connection error: {e}"),
            },
        }
    }
}

impl std::error::Error for DbError {}

impl DbError {
    /// The violated constraint, when this is a unique violation.
    pub fn unique_violation(&self) -> Option<&str> {
        match self {
            DbError::Query(e) => match e.as_db_error() {
                Some(db) if db.code() == &SqlState::UNIQUE_VIOLATION => db.constraint(),
                _ => None,
            },
            DbError::Unavailable(_) | DbError::SessionClaimed | DbError::Misuse(_) => None,
        }
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match &err {
            DbError::SessionClaimed => {
                ApiError::unauthorized("this anonymous session was claimed: sign in as its user instead")
            }
            // The server answered with an SQL error: our bug or a constraint we did not map.
            DbError::Query(e) if e.as_db_error().is_some() => match e.code() {
                Some(c)
                    if c == &SqlState::QUERY_CANCELED
                        || c == &SqlState::T_R_DEADLOCK_DETECTED
                        || c == &SqlState::T_R_SERIALIZATION_FAILURE =>
                {
                    ApiError::unavailable("the database").with_source(err)
                }
                _ => ApiError::internal().with_source(err),
            },
            DbError::Misuse(_) => ApiError::internal().with_source(err),
            // No answer: closed connection, network, pool exhausted.
            _ => ApiError::unavailable("the database").with_source(err),
        }
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(err: tokio_postgres::Error) -> Self {
        DbError::Query(err).into()
    }
}

/// Connections per pool unless `PARLEY_DB_POOL_SIZE` says otherwise: one Lambda instance
/// serves one request at a time (docs/scaling.md counts with it).
pub const DEFAULT_POOL_SIZE: usize = 2;

impl Database {
    /// A function's pool for the connection string in `var` (a `postgres://` URL). Pool size
    /// comes from `PARLEY_DB_POOL_SIZE` (default [`DEFAULT_POOL_SIZE`]).
    /// `PARLEY_DB_IAM_AUTH=true` signs every new connection in with an RDS IAM token for
    /// `AWS_REGION` instead of the URL's password.
    ///
    /// In a Lambda execution environment (`AWS_LAMBDA_RUNTIME_API` is set) the first
    /// connection starts opening in the background now, so the connect (TCP, TLS, sign-in)
    /// overlaps the rest of init and the first request's own work (its AWS calls) instead of
    /// following them. Init does not wait for it, and a failure there is only logged: the
    /// first query then tries again itself and answers 503 if it fails too.
    pub fn from_env(src: &impl Source, var: &str) -> Result<Self, ConfigError> {
        let db = Self::lazy_from_env(src, var)?;
        if config::optional(src, "AWS_LAMBDA_RUNTIME_API").is_some() {
            db.open_in_background();
        }
        Ok(db)
    }

    /// [`from_env`](Self::from_env) that never connects before the first query: for a pool
    /// most requests never use (the user directory of a function without a pool of its own).
    pub fn lazy_from_env(src: &impl Source, var: &str) -> Result<Self, ConfigError> {
        let url = config::required(src, var)?;
        let size: usize = config::parsed_or(src, "PARLEY_DB_POOL_SIZE", DEFAULT_POOL_SIZE)?;
        if size == 0 {
            return Err(ConfigError::new("PARLEY_DB_POOL_SIZE", "must be at least 1"));
        }
        let sign_in = SignIn::from_env(src)?;
        let pg = checked_config(&url, &sign_in).map_err(|problem| ConfigError::new(var, problem))?;
        Self::pool(pg, size, sign_in).map_err(|problem| ConfigError::new(var, problem))
    }

    /// Builds the pool without opening a connection (password sign-in).
    pub fn connect_lazily(url: &str, max_size: usize) -> Result<Self, String> {
        Self::pool(checked_config(url, &SignIn::Password)?, max_size, SignIn::Password)
    }

    fn pool(mut pg: tokio_postgres::Config, max_size: usize, sign_in: SignIn) -> Result<Self, String> {
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(Duration::from_secs(3));
        }
        if pg.get_application_name().is_none() {
            pg.application_name("parley");
        }
        let manager = Manager::from_connect(
            pg,
            ParleyConnect { sign_in },
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(max_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(3)))
            .create_timeout(Some(Duration::from_secs(5)))
            .recycle_timeout(Some(Duration::from_secs(1)))
            .build()
            .map_err(|e| format!("cannot build a pool: {e}"))?;
        Ok(Self { pool, opening: Arc::default() })
    }

    /// Starts opening the pool's first connection on the current Tokio runtime (none: does
    /// nothing). The connection goes back to the pool idle, for the first query.
    pub fn open_in_background(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let pool = self.pool.clone();
        let task = runtime.spawn(async move {
            if let Err(e) = pool.get().await {
                tracing::warn!(error = %e, "the database's first connection failed; the first query retries");
            }
        });
        *self.opening.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(task);
    }

    /// How many connections the pool may hold at once.
    pub fn max_size(&self) -> usize {
        self.pool.status().max_size
    }

    /// How many connections the pool holds now, idle or in use.
    pub fn open_connections(&self) -> usize {
        self.pool.status().size
    }

    async fn connection(&self) -> Result<Object, DbError> {
        let opening = self.opening.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(task) = opening {
            // Its connection is idle in the pool once it ends; a failure was logged there.
            let _ = task.await;
        }
        self.pool.get().await.map_err(|e| DbError::Unavailable(e.to_string()))
    }

    /// Opens the request transaction with the caller's RLS context.
    pub async fn begin(&self, caller: &Caller) -> Result<Tx, DbError> {
        self.begin_with(&begin_sql(Some(caller), false)).await
    }

    /// Opens a transaction for a webhook or scheduled job (the service role; no caller).
    pub async fn begin_service(&self) -> Result<Tx, DbError> {
        self.begin_with(&begin_sql(None, false)).await
    }

    /// Like [`begin`](Self::begin), but every statement sees one snapshot (REPEATABLE READ):
    /// for reads that must agree with each other, such as a chain head and its messages.
    pub async fn begin_snapshot(&self, caller: &Caller) -> Result<Tx, DbError> {
        self.begin_with(&begin_sql(Some(caller), true)).await
    }

    /// [`begin_service`](Self::begin_service) with one snapshot for every statement.
    pub async fn begin_service_snapshot(&self) -> Result<Tx, DbError> {
        self.begin_with(&begin_sql(None, true)).await
    }

    /// A transaction of exactly one statement, in one round trip: `BEGIN` with the caller's
    /// context, the statement and `COMMIT` are pipelined on one connection (design brief §6:
    /// fewest round trips). The statement's answer arrives with the transaction committed, so
    /// use it only where nothing in that answer could make the handler roll back — a read, or
    /// a write that is the whole of the request. A failing statement aborts the transaction
    /// and `COMMIT` then rolls it back. A second statement, a stream or a rollback after the
    /// statement is refused ([`DbError::Misuse`]).
    pub async fn begin_single(&self, caller: &Caller) -> Result<Tx, DbError> {
        self.begin_with_mode(&begin_sql(Some(caller), false), true).await
    }

    /// [`begin_single`](Self::begin_single) for a webhook or scheduled job (no caller).
    pub async fn begin_service_single(&self) -> Result<Tx, DbError> {
        self.begin_with_mode(&begin_sql(None, false), true).await
    }

    /// One statement as the whole request transaction, in one round trip
    /// ([`begin_single`](Self::begin_single)), for callers that hold no `Tx`.
    pub async fn one_shot(
        &self,
        caller: &Caller,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>, DbError> {
        let tx = self.begin_single(caller).await?;
        let rows = tx.query(sql, params).await?;
        tx.commit().await?;
        Ok(rows)
    }

    async fn begin_with(&self, sql: &str) -> Result<Tx, DbError> {
        self.begin_with_mode(sql, false).await
    }

    async fn begin_with_mode(&self, sql: &str, single: bool) -> Result<Tx, DbError> {
        let conn = self.connection().await?;
        Ok(Tx {
            conn: Some(conn),
            begin: Mutex::new(Some(sql.to_owned())),
            begun: tokio::sync::watch::channel(None).0,
            single,
            closed: AtomicBool::new(false),
            committed: Mutex::new(None),
        })
    }

    /// `SELECT 1` on a pooled connection (health checks).
    pub async fn ping(&self) -> Result<(), DbError> {
        let conn = self.connection().await?;
        conn.batch_execute("SELECT 1").await?;
        Ok(())
    }
}

/// The user directory is the `users` table, through `user_id_for` (migrations/V5): one
/// statement, no caller context, pipelined with BEGIN and COMMIT in one round trip.
impl crate::platform::identity::UserDirectory for Database {
    fn user_id<'a>(
        &'a self,
        issuer: &'a str,
        subject: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<uuid::Uuid, ApiError>> + Send + 'a>> {
        Box::pin(async move {
            let fresh = uuid::Uuid::now_v7();
            let rows = self
                .one_shot(
                    &Caller::default(),
                    "SELECT user_id_for($1, $2, $3)",
                    &[(&issuer, Type::TEXT), (&subject, Type::TEXT), (&fresh, Type::UUID)],
                )
                .await?;
            rows.first().map(|r| r.get(0)).ok_or_else(ApiError::internal)
        })
    }
}

/// One request transaction.
///
/// `BEGIN` and the caller's context are not sent on their own: they travel in the same
/// round trip as the first statement (tokio-postgres pipelines requests issued together).
/// Statements use the `*_typed` protocol — no named prepare, so RDS Proxy never pins the
/// connection. Statements issued concurrently (`tokio::try_join!`) are pipelined too.
pub struct Tx {
    conn: Option<Object>,
    /// The `BEGIN …` batch until the first statement carries it.
    begin: Mutex<Option<String>>,
    /// Whether the `BEGIN …` batch refused a claimed session, once it has answered.
    /// Statements pipelined behind it fail with "transaction aborted"; they wait for this
    /// to report the real reason, whichever of them the caller's `try_join!` sees first.
    begun: tokio::sync::watch::Sender<Option<bool>>,
    /// A one-statement transaction ([`Database::begin_single`]): `COMMIT` travels with the
    /// statement.
    single: bool,
    /// `COMMIT` has been sent behind the statements (a one-statement transaction's, or
    /// [`Tx::commit_with`]): any later statement is refused rather than run outside the
    /// transaction.
    closed: AtomicBool,
    /// Once a pipelined `COMMIT` has answered: whether it succeeded (a failed one leaves the
    /// connection in doubt).
    committed: Mutex<Option<bool>>,
}

impl Tx {
    fn client(&self) -> &tokio_postgres::Client {
        self.conn.as_ref().expect("a Tx holds its connection until it ends")
    }

    /// Sends the pending `BEGIN` (if any) pipelined with `statement` (and, for a
    /// one-statement transaction, `COMMIT` behind it).
    async fn run<T>(&self, statement: impl Future<Output = Result<T, tokio_postgres::Error>>) -> Result<T, DbError> {
        let begin = self.begin.lock().expect("never poisoned: no panics while held").take();
        if begin.is_some() && self.single {
            // Before anything is awaited, so a second statement polled behind this one sees it.
            self.closed.store(true, Ordering::SeqCst);
        }
        match begin {
            None if self.closed.load(Ordering::SeqCst) => {
                Err(DbError::Misuse("a statement after the transaction's COMMIT was sent"))
            }
            None => match statement.await {
                Ok(v) => Ok(v),
                Err(e) if e.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION) => {
                    let mut begun = self.begun.subscribe();
                    let claimed = begun.wait_for(Option::is_some).await.map(|v| *v == Some(true)).unwrap_or(false);
                    Err(if claimed { DbError::SessionClaimed } else { DbError::Query(e) })
                }
                Err(e) => Err(DbError::Query(e)),
            },
            Some(sql) => {
                // Polled after the statement, so a one-statement transaction's COMMIT is sent
                // behind it.
                let commit = async { if self.single { Some(self.pipelined_commit().await) } else { None } };
                let (opened, result, committed) = tokio::join!(self.client().batch_execute(&sql), statement, commit);
                let opened = opened.map_err(|e| refine(unavailable_or_query(e)));
                self.begun.send_replace(Some(matches!(opened, Err(DbError::SessionClaimed))));
                opened?;
                let value = result?;
                committed.transpose().map_err(unavailable_or_query)?;
                Ok(value)
            }
        }
    }

    pub async fn query(&self, sql: &str, params: &[(&(dyn ToSql + Sync), Type)]) -> Result<Vec<Row>, DbError> {
        self.run(self.client().query_typed(sql, params)).await
    }

    /// Exactly one row, or an error.
    pub async fn query_one(&self, sql: &str, params: &[(&(dyn ToSql + Sync), Type)]) -> Result<Row, DbError> {
        self.run(self.client().query_typed_one(sql, params)).await
    }

    /// At most one row.
    pub async fn query_opt(&self, sql: &str, params: &[(&(dyn ToSql + Sync), Type)]) -> Result<Option<Row>, DbError> {
        self.run(self.client().query_typed_opt(sql, params)).await
    }

    /// Rows affected.
    pub async fn execute(&self, sql: &str, params: &[(&(dyn ToSql + Sync), Type)]) -> Result<u64, DbError> {
        self.run(self.client().execute_typed(sql, params)).await
    }

    /// Rows one at a time, for result sets too large to hold (chain verification).
    pub async fn stream(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<tokio_postgres::RowStream, DbError> {
        if self.single {
            // Its COMMIT could not be answered before every row had been read.
            return Err(DbError::Misuse("a one-statement transaction cannot stream"));
        }
        let params = params.iter().map(|(v, t)| (*v as &(dyn ToSql + Sync), t.clone()));
        self.run(self.client().query_typed_raw(sql, params)).await
    }

    /// Runs `work`, the transaction's last statements, with `COMMIT` pipelined behind them,
    /// so the last round trip also ends the transaction (design brief §6: fewest round
    /// trips). `work` must send every statement before it first waits: one statement, or a
    /// `try_join!` of them; a statement it sends later is refused ([`DbError::Misuse`]), as is
    /// any statement, stream or rollback after this. Like
    /// [`begin_single`](Database::begin_single), the answers arrive committed, so use it only
    /// where nothing in them could make the caller roll back: a statement the server refuses
    /// aborts the transaction and `COMMIT` then rolls it back, but an error `work` makes of an
    /// answer it was given commits anyway. The `Tx` keeps its connection until it is dropped
    /// or [`commit`](Self::commit) is called, so end it as any other (`commit` then only
    /// reports how `COMMIT` went) before waiting on anything else.
    pub async fn commit_with<T, E: From<DbError>>(&self, work: impl Future<Output = Result<T, E>>) -> Result<T, E> {
        // Polled after `work`'s first poll, which has sent its statements.
        let commit = async {
            if self.single {
                return Err(DbError::Misuse("a one-statement transaction commits with its statement"));
            }
            self.closed.store(true, Ordering::SeqCst);
            if self.begin.lock().expect("never poisoned").take().is_some() {
                // Nothing was sent, so no transaction is open.
                *self.committed.lock().expect("never poisoned") = Some(true);
                return Ok(());
            }
            self.pipelined_commit().await.map_err(unavailable_or_query)
        };
        // `biased`: `work` is polled first every time, so its statements go out ahead of COMMIT.
        let (value, committed) = tokio::join!(biased; work, commit);
        let value = value?;
        committed?;
        Ok(value)
    }

    /// Sends `COMMIT` behind the statements already sent, and records how it went for
    /// [`commit`](Self::commit) and `Drop`.
    async fn pipelined_commit(&self) -> Result<(), tokio_postgres::Error> {
        let committed = self.client().batch_execute("COMMIT").await;
        *self.committed.lock().expect("never poisoned") = Some(committed.is_ok());
        committed
    }

    pub async fn commit(mut self) -> Result<(), DbError> {
        let conn = self.conn.take().expect("a Tx holds its connection until it ends");
        if self.begin.lock().expect("never poisoned").take().is_some() {
            return Ok(()); // nothing was sent, so there is nothing to commit
        }
        if self.closed.load(Ordering::SeqCst) {
            // COMMIT went with the statements; the connection is clean only if it succeeded.
            return match self.committed.lock().expect("never poisoned").take() {
                Some(true) => Ok(()),
                _ => {
                    let _ = Object::take(conn);
                    Err(DbError::Unavailable("the COMMIT sent with the statements did not succeed".into()))
                }
            };
        }
        match conn.batch_execute("COMMIT").await {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = Object::take(conn);
                Err(e.into())
            }
        }
    }

    pub async fn rollback(mut self) -> Result<(), DbError> {
        if self.closed.load(Ordering::SeqCst) {
            // Drop returns or closes the connection by how its COMMIT went.
            return Err(DbError::Misuse("the transaction's COMMIT was sent with its statements"));
        }
        let conn = self.conn.take().expect("a Tx holds its connection until it ends");
        if self.begin.lock().expect("never poisoned").take().is_some() {
            return Ok(());
        }
        if let Err(e) = conn.batch_execute("ROLLBACK").await {
            let _ = Object::take(conn);
            return Err(e.into());
        }
        Ok(())
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.begin.get_mut().map(|b| b.is_some()).unwrap_or(false) {
            return; // never begun: the connection is clean and goes straight back
        }
        if self.committed.get_mut().map(|c| *c == Some(true)).unwrap_or(false) {
            return; // committed with its statements: the connection is clean
        }
        // The connection stays out of the pool until ROLLBACK has run; if it cannot run
        // (no runtime, broken connection) the connection is closed instead.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if conn.batch_execute("ROLLBACK").await.is_err() {
                        let _ = Object::take(conn);
                    }
                });
            }
            Err(_) => {
                let _ = Object::take(conn);
            }
        }
    }
}

/// Names the refusals the database signals with our own SQLSTATEs.
fn refine(e: DbError) -> DbError {
    match &e {
        DbError::Query(q) if q.code().map(SqlState::code) == Some(CLAIMED_SESSION) => DbError::SessionClaimed,
        _ => e,
    }
}

fn unavailable_or_query(e: tokio_postgres::Error) -> DbError {
    if e.as_db_error().is_some() { DbError::Query(e) } else { DbError::Unavailable(e.to_string()) }
}

/// `BEGIN` plus the transaction-local settings: the statement timeout always, and the
/// caller's identity for API requests. The ids are UUIDs we formatted ourselves (hex and
/// dashes only), so inlining them in a simple-protocol batch is safe, and it saves the round
/// trip a bound statement would cost.
/// `snapshot` makes every statement of the transaction see one snapshot (REPEATABLE READ).
fn begin_sql(caller: Option<&Caller>, snapshot: bool) -> String {
    let begin = if snapshot { "BEGIN ISOLATION LEVEL REPEATABLE READ" } else { "BEGIN" };
    let timeout = format!("{begin}; SELECT set_config('statement_timeout', '{STATEMENT_TIMEOUT_MS}', true)");
    match caller {
        None => timeout,
        Some(c) => {
            let user = c.user_id.map(|u| u.to_string()).unwrap_or_default();
            let anon = c.anonymous_session_id.map(|u| u.to_string()).unwrap_or_default();
            // An anonymous-only caller whose session was claimed is refused here, in the
            // round trip that opens the transaction, at the cost of one primary-key lookup
            // (migrations/V5, app_require_live_session; SQLSTATE PA401 becomes a 401).
            let live = if c.user_id.is_none() && c.anonymous_session_id.is_some() {
                ", app_require_live_session()"
            } else {
                ""
            };
            format!(
                "{timeout}, set_config('app.user_id', '{user}', true), set_config('app.anonymous_session_id', '{anon}', true){live}"
            )
        }
    }
}

/// How a pool's connections sign in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignIn {
    /// With the URL's password (the local stack).
    Password,
    /// With a fresh RDS IAM token per connection, for this region.
    Iam { region: String },
}

impl SignIn {
    /// `PARLEY_DB_IAM_AUTH` (default `false`); with it, `AWS_REGION` (Lambda sets it).
    pub fn from_env(src: &impl Source) -> Result<Self, ConfigError> {
        if !config::parsed_or(src, "PARLEY_DB_IAM_AUTH", false)? {
            return Ok(SignIn::Password);
        }
        let region = config::required(src, "AWS_REGION")?;
        Ok(SignIn::Iam { region })
    }
}

/// Parses a database URL and refuses what would be unsafe or cannot work: a host that is
/// not loopback without `sslmode=require` (tokio-postgres's default, `prefer`, falls back
/// to plaintext), and, with IAM sign-in, a password in the URL or no user.
pub fn checked_config(url: &str, sign_in: &SignIn) -> Result<tokio_postgres::Config, String> {
    let pg: tokio_postgres::Config = url.parse().map_err(|_| "is not a valid postgres:// URL".to_owned())?;
    let remote = pg.get_hosts().iter().any(|host| match host {
        tokio_postgres::config::Host::Tcp(name) => {
            name != "localhost" && !name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        tokio_postgres::config::Host::Unix(_) => false,
    });
    if remote && pg.get_ssl_mode() != tokio_postgres::config::SslMode::Require {
        return Err("must set sslmode=require: TLS is required for a host that is not loopback".to_owned());
    }
    if let SignIn::Iam { .. } = sign_in {
        if pg.get_password().is_some() {
            return Err(
                "must not carry a password when PARLEY_DB_IAM_AUTH=true (each connection signs in with an IAM token)"
                    .to_owned(),
            );
        }
        if pg.get_user().is_none_or(str::is_empty) {
            return Err("must name its user when PARLEY_DB_IAM_AUTH=true".to_owned());
        }
    }
    Ok(pg)
}

/// Opens one connection: TLS from [`tls`], and the password an IAM token when asked for.
/// Returns the client and the connection's driver, to be spawned.
async fn open(
    mut pg: tokio_postgres::Config,
    sign_in: &SignIn,
) -> Result<
    (tokio_postgres::Client, impl Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static),
    tokio_postgres::Error,
> {
    if let SignIn::Iam { region } = sign_in {
        pg.password(iam_token(&pg, region).await);
    }
    pg.connect(tls().clone()).await
}

/// A fresh token for `pg`'s first host, port and user. When no credentials can be had, the
/// reason is logged and the empty password makes the server refuse the sign-in, which the
/// request sees as an unavailable database (deadpool's connect can only fail with a
/// tokio-postgres error, which cannot be built here).
async fn iam_token(pg: &tokio_postgres::Config, region: &str) -> String {
    use aws_credential_types::provider::ProvideCredentials;
    let host = pg.get_hosts().iter().find_map(|h| match h {
        tokio_postgres::config::Host::Tcp(name) => Some(name.clone()),
        #[cfg(unix)]
        tokio_postgres::config::Host::Unix(_) => None,
    });
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    let user = pg.get_user().unwrap_or_default();
    let Some(provider) = crate::platform::aws::shared_config().await.credentials_provider() else {
        tracing::error!("no AWS credentials provider for the database's IAM sign-in");
        return String::new();
    };
    let credentials = match provider.provide_credentials().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %aws_credential_types::provider::error::CredentialsError::to_string(&e), "no AWS credentials for the database's IAM sign-in");
            return String::new();
        }
    };
    let host = host.unwrap_or_default();
    match crate::platform::rds::auth_token(&host, port, user, region, credentials, std::time::SystemTime::now()) {
        Ok(token) => token,
        Err(e) => {
            tracing::error!(error = %e, "cannot make the database's IAM token");
            String::new()
        }
    }
}

/// deadpool's connector for every pool: [`open`], then the connection driven by a task.
struct ParleyConnect {
    sign_in: SignIn,
}

impl deadpool_postgres::Connect for ParleyConnect {
    fn connect(
        &self,
        pg: &tokio_postgres::Config,
    ) -> std::pin::Pin<
        Box<
            dyn Future<Output = Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>>
                + Send
                + '_,
        >,
    > {
        let pg = pg.clone();
        Box::pin(async move {
            let (client, connection) = open(pg, &self.sign_in).await?;
            let driver = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "database connection ended");
                }
            });
            Ok((client, driver))
        })
    }
}

/// The TLS connector, built once per instance on the first connect (not at init): the
/// webpki roots (RDS Proxy's ACM certificate) and RDS's own CAs (a direct connection to a
/// cluster or instance endpoint).
fn tls() -> &'static tokio_postgres_rustls::MakeRustlsConnect {
    static TLS: std::sync::OnceLock<tokio_postgres_rustls::MakeRustlsConnect> = std::sync::OnceLock::new();
    TLS.get_or_init(|| {
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        roots.add_parsable_certificates(crate::platform::rds::certificate_authorities());
        let config =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("aws-lc-rs supports the default TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
        tokio_postgres_rustls::MakeRustlsConnect::new(config)
    })
}

/// Versioned schema migrations (`migrations/V<n>__<name>.sql`), embedded in the binary.
///
/// Guarantees: one run at a time per database (a session-level advisory lock on the one
/// migration connection, waited for at most [`LOCK_WAIT`]); a migration waits at most
/// [`DDL_LOCK_WAIT`] for a table lock, so it fails rather than queueing every request behind
/// it; an applied migration that changed aborts the run; a database already carrying
/// migrations newer than this binary knows (a rollback redeploying the previous release)
/// is accepted as it is, as long as everything this binary knows is applied.
pub mod migrations {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use tokio_postgres::types::Type;

    refinery::embed_migrations!("../migrations");

    /// The advisory lock key every `migrate` run takes ("parley-migrate" as an i64).
    pub const LOCK_KEY: i64 = 0x7061_726c_6579_6d67;
    /// How long a run waits for another to finish.
    pub const LOCK_WAIT: Duration = Duration::from_secs(120);
    /// How long one migration statement waits for a lock on a table in use.
    pub const DDL_LOCK_WAIT: Duration = Duration::from_secs(10);

    /// A login the deployment keeps in step: created or given its password, and made a
    /// member of `group` (`parley_app`, `parley_service`).
    pub struct Login {
        pub username: String,
        pub password: zeroize::Zeroizing<String>,
        pub group: &'static str,
    }

    impl std::fmt::Debug for Login {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Login").field("username", &self.username).field("group", &self.group).finish()
        }
    }

    /// Applies every pending migration over a direct connection as the schema owner,
    /// labels the database with the deployment's `stage` (the ledger refuses the faucet
    /// where it is `prod`; migrations/V5), keeps `logins` in step, and returns the names
    /// applied. Safe to run concurrently: the second run waits for the first and then finds
    /// nothing to do.
    pub async fn run(url: &str, sign_in: &super::SignIn, stage: &str, logins: &[Login]) -> Result<Vec<String>, String> {
        let mut pg = super::checked_config(url, sign_in).map_err(|e| format!("the migration URL {e}"))?;
        pg.connect_timeout(Duration::from_secs(5));
        let (mut client, connection) = super::open(pg, sign_in).await.map_err(|e| format!("cannot connect: {e}"))?;
        let driver = tokio::spawn(connection);
        // Session-level: held across refinery's per-migration transactions, released when
        // this connection closes, whatever happens below.
        client
            .batch_execute(&format!(
                "SET lock_timeout = '{}ms'; SELECT pg_advisory_lock({LOCK_KEY}); SET lock_timeout = '{}ms'",
                LOCK_WAIT.as_millis(),
                DDL_LOCK_WAIT.as_millis()
            ))
            .await
            .map_err(|e| format!("cannot take the migration lock: {}", describe(&e)))?;
        let result = apply(&mut client, stage, logins).await;
        drop(client);
        let _ = driver.await;
        result
    }

    async fn apply(client: &mut tokio_postgres::Client, stage: &str, logins: &[Login]) -> Result<Vec<String>, String> {
        #[allow(clippy::useless_conversion)] // SchemaVersion is i32 or i64 by refinery's features
        let known: BTreeSet<i64> =
            migrations::runner().get_migrations().iter().map(|m| i64::from(m.version())).collect();
        let newest_known = known.last().copied().unwrap_or(-1);
        let applied = applied_versions(client).await?;
        let newer: Vec<i64> = applied.iter().copied().filter(|v| *v > newest_known).collect();
        let runner = if newer.is_empty() {
            migrations::runner().set_abort_divergent(true).set_abort_missing(true)
        } else {
            // A newer release migrated this database. Everything this binary knows must be
            // there already (expand/contract keeps it working); refinery still refuses an
            // applied migration that differs from ours.
            if let Some(v) = known.iter().find(|v| !applied.contains(v)) {
                return Err(format!(
                    "migration V{v} is not applied, but the database already has newer ones ({newer:?}); refusing to apply it out of order"
                ));
            }
            tracing::info!(newer = ?newer, "the database has migrations newer than this release; nothing to apply");
            migrations::runner().set_abort_divergent(true).set_abort_missing(false)
        };
        let report = runner.run_async(client).await.map_err(|e| format!("migration failed: {e}"))?;
        client
            .execute("UPDATE deployment SET stage = $1", &[&stage])
            .await
            .map_err(|e| format!("cannot label the deployment's stage: {}", describe(&e)))?;
        for login in logins {
            keep_login(client, login).await?;
        }
        Ok(report.applied_migrations().iter().map(|m| m.to_string()).collect())
    }

    /// Versions in refinery's history table (none when it does not exist yet).
    async fn applied_versions(client: &tokio_postgres::Client) -> Result<BTreeSet<i64>, String> {
        let rows = client.query_typed("SELECT version::bigint FROM refinery_schema_history", &[]).await;
        match rows {
            Ok(rows) => Ok(rows.iter().map(|r| r.get(0)).collect()),
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => Ok(BTreeSet::new()),
            Err(e) => Err(format!("cannot read the migration history: {}", describe(&e))),
        }
    }

    /// Creates `login` or sets its password, and makes it a member of its group. The
    /// statements are built server-side by `format('%I', '%L')`, so neither the name nor
    /// the password is ever spliced into SQL here; neither error messages nor logs carry the
    /// password. Refuses to touch a superuser, the migrating user itself or a group role.
    async fn keep_login(client: &tokio_postgres::Client, login: &Login) -> Result<(), String> {
        let name = &login.username;
        if name.is_empty() || name.len() > 63 {
            return Err(format!("login {name:?}: the username must be 1-63 bytes"));
        }
        let row = client
            .query_typed(
                "SELECT r.rolname IS NOT NULL,
                        coalesce(r.rolsuper OR r.rolname = current_user OR r.rolname IN ('parley_app', 'parley_service'), false),
                        CASE WHEN r.rolname IS NULL
                             THEN format('CREATE ROLE %I LOGIN PASSWORD %L', $1::text, $2::text)
                             ELSE format('ALTER ROLE %I WITH LOGIN PASSWORD %L', $1::text, $2::text) END,
                        format('GRANT %I TO %I', $3::text, $1::text)
                 FROM (SELECT 1) AS one LEFT JOIN pg_roles r ON r.rolname = $1::text",
                &[(name, Type::TEXT), (&login.password.as_str(), Type::TEXT), (&login.group, Type::TEXT)],
            )
            .await
            .map_err(|e| format!("login {name}: {}", describe(&e)))?;
        let row = row.first().ok_or_else(|| format!("login {name}: no answer"))?;
        let (exists, protected): (bool, bool) = (row.get(0), row.get(1));
        if protected {
            return Err(format!("login {name}: refusing to manage a superuser, the migrating user or a group role"));
        }
        let set_password = zeroize::Zeroizing::new(row.get::<_, String>(2));
        client.batch_execute(&set_password).await.map_err(|e| format!("login {name}: {}", describe(&e)))?;
        let grant: String = row.get(3);
        client.batch_execute(&grant).await.map_err(|e| format!("login {name}: {}", describe(&e)))?;
        tracing::info!(login = %name, group = login.group, created = !exists, "login kept in step");
        Ok(())
    }

    /// SQLSTATE and message, never the statement (which may hold a password).
    fn describe(e: &tokio_postgres::Error) -> String {
        match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_remote_host_without_tls_is_refused_at_configuration() {
        // GIVEN URLs for a host that is not loopback, without sslmode=require
        for url in [
            "postgres://parley_api:pw@proxy.example.rds.amazonaws.com:5432/parley",
            "postgres://parley_api:pw@proxy.example.rds.amazonaws.com:5432/parley?sslmode=prefer",
            "postgres://parley_api:pw@10.0.0.5/parley?sslmode=disable",
        ] {
            // WHEN a pool is configured THEN it is refused, naming the setting, not the URL
            let err = Database::from_env(&env(&[("PARLEY_DATABASE_URL", url)]), "PARLEY_DATABASE_URL").err().unwrap();
            assert_eq!(err.name, "PARLEY_DATABASE_URL");
            assert!(err.problem.contains("sslmode=require"), "{err}");
            assert!(!err.to_string().contains("pw"), "{err}");
        }
    }

    #[test]
    fn tls_or_loopback_is_accepted() {
        for url in [
            "postgres://parley_api:pw@proxy.example.rds.amazonaws.com:5432/parley?sslmode=require",
            "postgres://parley_app:pw@127.0.0.1:5432/parley",
            "postgres://parley_app:pw@localhost/parley",
            "postgres://parley_app:pw@[::1]:5432/parley",
        ] {
            assert!(Database::from_env(&env(&[("PARLEY_DATABASE_URL", url)]), "PARLEY_DATABASE_URL").is_ok(), "{url}");
        }
    }

    #[test]
    fn iam_sign_in_takes_a_url_without_a_password_and_needs_the_region() {
        let iam = "postgres://parley_api@proxy.example.rds.amazonaws.com:5432/parley?sslmode=require";
        // GIVEN PARLEY_DB_IAM_AUTH=true and AWS_REGION: THEN a password-less URL is accepted
        let ok = env(&[("PARLEY_DATABASE_URL", iam), ("PARLEY_DB_IAM_AUTH", "true"), ("AWS_REGION", "eu-west-1")]);
        assert!(Database::from_env(&ok, "PARLEY_DATABASE_URL").is_ok());
        assert_eq!(SignIn::from_env(&ok).unwrap(), SignIn::Iam { region: "eu-west-1".into() });
        // AND without the region it is refused, naming AWS_REGION
        let no_region = env(&[("PARLEY_DATABASE_URL", iam), ("PARLEY_DB_IAM_AUTH", "true")]);
        assert_eq!(Database::from_env(&no_region, "PARLEY_DATABASE_URL").err().unwrap().name, "AWS_REGION");
        // AND a URL that still carries a password is refused
        let with_password = "postgres://parley_api:pw@proxy.example.rds.amazonaws.com/parley?sslmode=require";
        let err = checked_config(with_password, &SignIn::Iam { region: "eu-west-1".into() }).unwrap_err();
        assert!(err.contains("must not carry a password"), "{err}");
        // AND PARLEY_DB_IAM_AUTH that is not a boolean is named
        let bad = env(&[("PARLEY_DATABASE_URL", iam), ("PARLEY_DB_IAM_AUTH", "yes")]);
        assert_eq!(Database::from_env(&bad, "PARLEY_DATABASE_URL").err().unwrap().name, "PARLEY_DB_IAM_AUTH");
    }
}
