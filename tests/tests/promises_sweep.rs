//! `sweep-expired` (README.md, Scheduled jobs): "it resumes after a timeout and two runs at
//! once split the work". Each test has a database of its own, so the counts are exact and no
//! test running beside it can hide a wrong one. (Named `sweep…`: .config/nextest.toml runs
//! them one at a time with the other sweeps.)

use std::time::Duration;

use parley_e2e::promises::OwnDatabase;

/// `n` anonymous sessions, unclaimed, expired 8 days ago (past the 7-day retention).
async fn expired_sessions(db: &OwnDatabase, n: i32) {
    db.owner()
        .await
        .execute(
            "INSERT INTO anonymous_sessions (id, created_at, expires_at) \
             SELECT gen_random_uuid(), now() - interval '9 days', now() - interval '8 days' FROM generate_series(1, $1)",
            &[&n],
        )
        .await
        .unwrap();
}

async fn sessions_left(db: &OwnDatabase) -> i64 {
    db.owner().await.query_one("SELECT count(*) FROM anonymous_sessions", &[]).await.unwrap().get(0)
}

/// A sweep of `db` in batches of `batch` rows, with its own connection pool.
fn sweep(db: &OwnDatabase, batch: &str) -> sweep_expired::State {
    sweep_expired::State::from_source(&db.env(&[("PARLEY_SWEEP_BATCH_SIZE", batch)])).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_two_concurrent_runs_each_do_part_of_the_work_and_count_it_once() {
    // GIVEN 400 sessions past retention
    let db = OwnDatabase::create("sweep_split").await;
    expired_sessions(&db, 400).await;
    // WHEN two runs (two Lambda instances: separate pools) go at once, one row per batch
    let (one, two) = (sweep(&db, "1"), sweep(&db, "1"));
    let (a, b) = tokio::join!(
        tokio::spawn(async move { sweep_expired::run(&one).await }),
        tokio::spawn(async move { sweep_expired::run(&two).await })
    );
    let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
    // THEN each deleted some, together exactly the 400, and none is left
    assert!(a.sessions_deleted > 0 && b.sessions_deleted > 0, "one run did all the work: {a:?} {b:?}");
    assert_eq!(a.sessions_deleted + b.sessions_deleted, 400, "{a:?} {b:?}");
    assert_eq!(sessions_left(&db).await, 0);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_a_run_stopped_midway_is_finished_by_the_next() {
    // GIVEN 300 sessions past retention, and a run (one row per batch) stopped midway, as a
    // Lambda timeout would stop it
    let db = OwnDatabase::create("sweep_resume").await;
    expired_sessions(&db, 300).await;
    let first = sweep(&db, "1");
    let run = tokio::spawn(async move { sweep_expired::run(&first).await });
    for _ in 0..600 {
        if sessions_left(&db).await <= 250 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled(), "the first run finished before it was stopped");
    tokio::time::sleep(Duration::from_millis(300)).await; // its connections close; an open batch rolls back
    let left = sessions_left(&db).await;
    assert!((1..300).contains(&left), "not stopped midway: {left} left");
    // WHEN the next run goes
    let report = sweep_expired::run(&sweep(&db, "1")).await.unwrap();
    // THEN it deletes exactly what the first left, one batch each, and nothing is left
    assert_eq!(report.sessions_deleted, left as u64, "{report:?}");
    assert_eq!(sessions_left(&db).await, 0);
    db.drop_now().await;
}
