//! `sweep-expired` at scale: bounded batches, exact counts, two runs at once, and claimed
//! data never touched. (Serialized with other sweep runs by .config/nextest.toml.)

use parley_e2e::*;
use uuid::Uuid;

#[tokio::test]
async fn sweep_removes_100k_expired_sessions_in_two_concurrent_runs_and_spares_claimed_data() {
    // GIVEN 100 000 unclaimed sessions expired 8 days ago, plus ones that must survive:
    // claimed-and-expired, expired within retention, and live
    // (Every assertion is scoped to these rows, kept in temporary tables of this
    // connection, so rows other tests create cannot hide a wrong deletion.)
    let owner = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    let marker = Uuid::now_v7();
    owner
        .batch_execute(&format!(
            "CREATE TEMP TABLE expired_ids AS SELECT gen_random_uuid() AS id FROM generate_series(1, 100000); \
             CREATE TEMP TABLE recent_ids AS SELECT gen_random_uuid() AS id FROM generate_series(1, 10); \
             INSERT INTO anonymous_sessions (id, created_at, expires_at) \
             SELECT id, now() - interval '9 days', now() - interval '8 days' FROM expired_ids; \
             INSERT INTO anonymous_sessions (id, created_at, expires_at, claimed_by_user_id, claimed_at) \
             VALUES ('{marker}', now() - interval '30 days', now() - interval '29 days', gen_random_uuid(), now() - interval '29 days'); \
             INSERT INTO anonymous_sessions (id, created_at, expires_at) \
             SELECT id, now() - interval '3 days', now() - interval '2 days' FROM recent_ids;"
        ))
        .await
        .unwrap();
    let count = |sql: &'static str| {
        let owner = &owner;
        async move { owner.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    // (sweeps are serialized by .config/nextest.toml, so nothing else becomes eligible now)
    let eligible = count(
        "SELECT count(*) FROM anonymous_sessions WHERE claimed_by_user_id IS NULL AND expires_at < now() - interval '7 days'",
    )
    .await;
    assert!(eligible >= 100_000);

    // WHEN two sweeps run at once, in small batches
    let env = env_with(&[("PARLEY_SWEEP_BATCH_SIZE", "2000")]);
    let state = sweep_expired::State::from_source(&env).unwrap();
    let (a, b) = tokio::join!(sweep_expired::run(&state), sweep_expired::run(&state));
    let (a, b) = (a.unwrap(), b.unwrap());

    // THEN together they deleted every eligible session, each counted once, in bounded batches
    assert_eq!(a.sessions_deleted + b.sessions_deleted, eligible as u64, "{a:?} {b:?}");
    assert!(a.batches + b.batches >= 50, "bounded batches: {a:?} {b:?}");
    assert_eq!(count("SELECT count(*) FROM anonymous_sessions WHERE id IN (SELECT id FROM expired_ids)").await, 0);
    // AND the claimed session and the ones within retention are all still there
    let claimed: i64 =
        owner.query_one("SELECT count(*) FROM anonymous_sessions WHERE id = $1", &[&marker]).await.unwrap().get(0);
    assert_eq!(claimed, 1);
    assert_eq!(count("SELECT count(*) FROM anonymous_sessions WHERE id IN (SELECT id FROM recent_ids)").await, 10);
    // AND a run with nothing to do reports zero
    let again = sweep_expired::run(&state).await.unwrap();
    assert_eq!(again.sessions_deleted, 0);
}

#[tokio::test]
async fn sweep_expires_lapsed_quotes_and_their_cart_items_and_deletes_unclaimed_chat() {
    // GIVEN an anonymous visitor's quote in the cart and a conversation, all lapsed
    let (session, token) = anonymous_session().await;
    let anon = as_anonymous(&token);
    let chat = post_message(&anon, &format!("BA117 on {}", spoken(days_ahead(30))), None).await;
    assert_eq!(chat.status, 201, "{}", chat.body);
    assert_eq!(chat.body["reply"]["ui_elements"].as_array().map(Vec::len), Some(2), "{}", chat.body);
    let quote = chat.body["reply"]["ui_elements"][0]["quote_id"].as_str().unwrap().to_owned();
    let conversation: Uuid = chat.body["message"]["conversation_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(post_json_as("/v1/cart/items", &anon, &serde_json::json!({"quote_id": quote})).await.status, 201);
    let owner = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    owner
        .execute(
            "UPDATE quotes SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour' \
             WHERE owner_anonymous_session_id = $1",
            &[&session],
        )
        .await
        .unwrap();
    let state = sweep_expired::State::from_env().await.unwrap();
    // WHEN the sweep runs THEN the quotes and the item are EXPIRED, the session still exists
    let report = sweep_expired::run(&state).await.unwrap();
    assert!(report.quotes_expired >= 2 && report.cart_items_expired >= 1, "{report:?}");
    let statuses: Vec<String> = owner
        .query("SELECT i.status FROM quote_cart_items i WHERE i.owner_anonymous_session_id = $1", &[&session])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(statuses, ["EXPIRED"]);
    // WHEN the session is past retention THEN it goes, with its conversation and quotes
    owner
        .execute(
            "UPDATE anonymous_sessions SET created_at = now() - interval '10 days', expires_at = now() - interval '9 days' WHERE id = $1",
            &[&session],
        )
        .await
        .unwrap();
    sweep_expired::run(&state).await.unwrap();
    let left: i64 = owner
        .query_one(
            "SELECT (SELECT count(*) FROM conversations WHERE id = $1) + (SELECT count(*) FROM quotes WHERE owner_anonymous_session_id = $2)",
            &[&conversation, &session],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}
