//! `shared::platform::db`: one transaction per request, scoped to the caller, and nothing leaking
//! to the next request on the same pooled connection.

use chrono::Utc;
use parley_e2e::setting;
use shared::platform::db::{Database, DbError, Type};
use shared::platform::identity::Caller;
use uuid::Uuid;

fn pool(size: usize) -> Database {
    Database::connect_lazily(&setting("DATABASE_URL"), size).unwrap()
}

async fn insert_session(tx: &shared::platform::db::Tx, id: Uuid) {
    insert_session_result(tx, id).await.unwrap();
}

async fn insert_session_result(tx: &shared::platform::db::Tx, id: Uuid) -> Result<u64, DbError> {
    tx.execute(
        "INSERT INTO anonymous_sessions (id, expires_at) VALUES ($1, $2)",
        &[(&id, Type::UUID), (&(Utc::now() + chrono::Duration::hours(1)), Type::TIMESTAMPTZ)],
    )
    .await
}

async fn visible(db: &Database, caller: Caller) -> Vec<Uuid> {
    let tx = db.begin(&caller).await.unwrap();
    let rows = tx.query("SELECT id FROM anonymous_sessions", &[]).await.unwrap();
    tx.commit().await.unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test]
async fn a_committed_write_is_visible_to_its_caller_only() {
    let db = pool(1);
    let id = Uuid::now_v7();
    let tx = db.begin(&Caller::anonymous(id)).await.unwrap();
    insert_session(&tx, id).await;
    tx.commit().await.unwrap();
    assert_eq!(visible(&db, Caller::anonymous(id)).await, vec![id]);
    assert!(visible(&db, Caller::anonymous(Uuid::now_v7())).await.is_empty());
}

#[tokio::test]
async fn a_dropped_transaction_is_rolled_back_and_its_context_does_not_leak() {
    // GIVEN a pool of one connection, so the next request reuses the same connection
    let db = pool(1);
    let id = Uuid::now_v7();
    {
        // WHEN a request writes and then fails before committing (the Tx is dropped)
        let tx = db.begin(&Caller::anonymous(id)).await.unwrap();
        insert_session(&tx, id).await;
    }
    // THEN the write is gone, and a caller-less transaction on that connection sees nothing
    assert!(visible(&db, Caller::anonymous(id)).await.is_empty());
    let tx = db.begin(&Caller::default()).await.unwrap();
    let ctx: String =
        tx.query_one("SELECT current_setting('app.anonymous_session_id', true)", &[]).await.unwrap().get(0);
    tx.commit().await.unwrap();
    assert_eq!(ctx, "", "the previous request's caller leaked into the next transaction");
}

#[tokio::test]
async fn one_shot_runs_a_statement_as_a_whole_transaction() {
    let db = pool(1);
    let id = Uuid::now_v7();
    let caller = Caller::anonymous(id);
    let expires = Utc::now() + chrono::Duration::hours(1);
    db.one_shot(
        &caller,
        "INSERT INTO anonymous_sessions (id, expires_at) VALUES ($1, $2)",
        &[(&id, Type::UUID), (&expires, Type::TIMESTAMPTZ)],
    )
    .await
    .unwrap();
    // A failing statement (duplicate key) rolls back and the connection stays usable.
    let dup = db
        .one_shot(
            &caller,
            "INSERT INTO anonymous_sessions (id, expires_at) VALUES ($1, $2)",
            &[(&id, Type::UUID), (&expires, Type::TIMESTAMPTZ)],
        )
        .await
        .unwrap_err();
    assert_eq!(dup.unique_violation(), Some("anonymous_sessions_pkey"));
    assert_eq!(visible(&db, caller).await, vec![id]);
}

/// Whether the pool's (one) connection was handed over outside any transaction: a
/// transaction left open by a write would still hold a transaction id here.
async fn clean(db: &Database) -> bool {
    let tx = db.begin(&Caller::default()).await.unwrap();
    let row = tx
        .query_one(
            "SELECT current_setting('app.anonymous_session_id', true), \
             (SELECT count(*) FROM pg_stat_activity WHERE pid = pg_backend_pid() AND backend_xid IS NOT NULL)",
            &[],
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    row.get::<_, String>(0).is_empty() && row.get::<_, i64>(1) == 0
}

#[tokio::test]
async fn a_one_statement_transaction_commits_with_its_statement_in_one_round_trip() {
    // GIVEN a pool of one connection
    let db = pool(1);
    let id = Uuid::now_v7();
    let caller = Caller::anonymous(id);
    // WHEN a one-statement transaction writes and is dropped without `commit`
    {
        let tx = db.begin_single(&caller).await.unwrap();
        insert_session(&tx, id).await;
    }
    // THEN the connection went back to the pool outside any transaction, and the write is
    // committed already (COMMIT travelled with it): another connection sees it
    assert!(clean(&db).await);
    assert_eq!(visible(&pool(1), caller).await, vec![id]);
    // AND with `commit` called, the same holds
    let tx = db.begin_single(&caller).await.unwrap();
    let rows = tx.query("SELECT id FROM anonymous_sessions", &[]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(rows.iter().map(|r| r.get::<_, Uuid>(0)).collect::<Vec<_>>(), vec![id]);
    assert!(clean(&db).await);
}

#[tokio::test]
async fn a_one_statement_transaction_refuses_a_second_statement_a_stream_and_a_rollback() {
    let db = pool(1);
    let id = Uuid::now_v7();
    let tx = db.begin_single(&Caller::anonymous(id)).await.unwrap();
    assert!(matches!(tx.stream("SELECT 1", &[]).await, Err(DbError::Misuse(_))));
    insert_session(&tx, id).await;
    assert!(matches!(tx.query("SELECT 2", &[]).await, Err(DbError::Misuse(_))));
    assert!(matches!(tx.rollback().await, Err(DbError::Misuse(_))));
    assert!(clean(&db).await, "the refused calls left the connection in a transaction");
}

#[tokio::test]
async fn a_failing_one_statement_transaction_rolls_back_and_its_connection_stays_usable() {
    let db = pool(1);
    let id = Uuid::now_v7();
    let caller = Caller::anonymous(id);
    let tx = db.begin_single(&caller).await.unwrap();
    // A statement that fails after writing: the write must not survive.
    let err = tx
        .query(
            "WITH w AS (INSERT INTO anonymous_sessions (id, expires_at) VALUES ($1, now() + interval '1 hour') \
             RETURNING 1) SELECT 1 / 0 FROM w",
            &[(&id, Type::UUID)],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::Query(_)), "{err}");
    drop(tx);
    assert!(clean(&db).await);
    assert!(visible(&pool(1), caller).await.is_empty());
}

#[tokio::test]
async fn commit_with_ends_the_transaction_in_its_last_statements_round_trip() {
    // GIVEN a transaction that wrote in an earlier round trip
    let db = pool(1);
    let id = Uuid::now_v7();
    let caller = Caller::anonymous(id);
    let tx = db.begin(&caller).await.unwrap();
    insert_session(&tx, id).await;
    // WHEN its last statements run with COMMIT behind them
    let (mine, one) = tx
        .commit_with(async {
            tokio::try_join!(tx.query("SELECT id FROM anonymous_sessions", &[]), tx.query_one("SELECT 1", &[]))
        })
        .await
        .unwrap();
    // THEN they ran inside the transaction (they see its write), and it is committed: another
    // connection sees the write, and the pooled connection comes back outside any transaction
    assert_eq!(mine.iter().map(|r| r.get::<_, Uuid>(0)).collect::<Vec<_>>(), vec![id]);
    assert_eq!(one.get::<_, i32>(0), 1);
    assert_eq!(visible(&pool(1), caller).await, vec![id]);
    // AND nothing may follow: a statement, a stream, a rollback; `commit` reports success
    assert!(matches!(tx.query("SELECT 2", &[]).await, Err(DbError::Misuse(_))));
    assert!(matches!(tx.stream("SELECT 2", &[]).await, Err(DbError::Misuse(_))));
    tx.commit().await.unwrap();
    assert!(clean(&db).await);
    let tx = db.begin(&caller).await.unwrap();
    tx.commit_with(async { tx.query("SELECT 1", &[]).await }).await.unwrap();
    assert!(matches!(tx.rollback().await, Err(DbError::Misuse(_))));
    assert!(clean(&db).await);
}

#[tokio::test]
async fn commit_with_rolls_back_the_whole_transaction_when_a_last_statement_fails() {
    // GIVEN a transaction that wrote in an earlier round trip
    let db = pool(1);
    let id = Uuid::now_v7();
    let caller = Caller::anonymous(id);
    let tx = db.begin(&caller).await.unwrap();
    insert_session(&tx, id).await;
    // WHEN one of its last statements fails on the server
    let err = tx
        .commit_with(async { tokio::try_join!(tx.query_one("SELECT 1", &[]), tx.query_one("SELECT 1 / 0", &[])) })
        .await
        .unwrap_err();
    // THEN the error is the statement's, the earlier write is gone, and the connection is clean
    assert!(matches!(err, DbError::Query(_)), "{err}");
    drop(tx);
    assert!(visible(&pool(1), caller).await.is_empty());
    assert!(clean(&db).await);
}

#[tokio::test]
async fn commit_with_refuses_a_statement_its_work_sends_after_waiting() {
    // GIVEN work that waits for one answer before sending its next statement (which would
    // then run after COMMIT, outside the transaction)
    let db = pool(1);
    let id = Uuid::now_v7();
    let caller = Caller::anonymous(id);
    let tx = db.begin(&caller).await.unwrap();
    let err = tx
        .commit_with(async {
            tx.query_one("SELECT 1", &[]).await?;
            insert_session_result(&tx, id).await
        })
        .await
        .unwrap_err();
    // THEN the late statement is refused before it reaches the database
    assert!(matches!(err, DbError::Misuse(_)), "{err}");
    drop(tx);
    assert!(visible(&pool(1), caller).await.is_empty());
    assert!(clean(&db).await);
}

#[tokio::test]
async fn a_transaction_that_never_ran_a_statement_costs_nothing_and_leaks_nothing() {
    let db = pool(1);
    let caller = Caller::anonymous(Uuid::now_v7());
    db.begin(&caller).await.unwrap().commit().await.unwrap();
    drop(db.begin(&caller).await.unwrap());
    let tx = db.begin(&Caller::default()).await.unwrap();
    let ctx: String =
        tx.query_one("SELECT current_setting('app.anonymous_session_id', true)", &[]).await.unwrap().get(0);
    tx.commit().await.unwrap();
    assert_eq!(ctx, "");
}

#[tokio::test]
async fn the_statement_timeout_is_set_on_every_request_transaction() {
    let db = pool(1);
    let tx = db.begin(&Caller::default()).await.unwrap();
    let timeout: String = tx.query_one("SHOW statement_timeout", &[]).await.unwrap().get(0);
    tx.commit().await.unwrap();
    assert_eq!(timeout, "5s");
}

fn lambda_settings(in_lambda: bool) -> std::collections::HashMap<String, String> {
    let mut env = std::collections::HashMap::from([("PARLEY_DATABASE_URL".to_owned(), setting("DATABASE_URL"))]);
    if in_lambda {
        env.insert("AWS_LAMBDA_RUNTIME_API".to_owned(), "127.0.0.1:9001".to_owned());
    }
    env
}

/// Waits (at most 5 s) until `db` holds `n` connections; whether it got there.
async fn holds(db: &Database, n: usize) -> bool {
    for _ in 0..500 {
        if db.open_connections() == n {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn in_lambda_the_first_connection_opens_during_init_without_a_query() {
    // GIVEN a function's pool built in a Lambda execution environment
    let db = Database::from_env(&lambda_settings(true), "PARLEY_DATABASE_URL").unwrap();
    // THEN building it did not wait for the connection, which opens by itself
    assert_eq!(db.open_connections(), 0, "init must not wait for the database");
    assert!(holds(&db, 1).await, "the first connection opens in the background");
    // AND the first query uses it rather than opening another
    assert!(visible(&db, Caller::anonymous(Uuid::now_v7())).await.is_empty());
    assert_eq!(db.open_connections(), 1);
}

#[tokio::test]
async fn the_first_query_waits_for_the_connection_opening_rather_than_opening_a_second() {
    let db = Database::from_env(&lambda_settings(true), "PARLEY_DATABASE_URL").unwrap();
    // WHEN the first query comes while the background connect is still under way
    assert!(visible(&db, Caller::anonymous(Uuid::now_v7())).await.is_empty());
    // THEN one connection served both
    assert_eq!(db.open_connections(), 1);
}

#[tokio::test]
async fn outside_lambda_nothing_connects_before_the_first_query() {
    let db = Database::from_env(&lambda_settings(false), "PARLEY_DATABASE_URL").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(db.open_connections(), 0);
    assert!(visible(&db, Caller::anonymous(Uuid::now_v7())).await.is_empty());
    assert_eq!(db.open_connections(), 1);
}
