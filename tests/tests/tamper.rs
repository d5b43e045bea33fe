//! Tampering with stored messages through SQL — editing, deleting, reordering, inserting —
//! is found at the right index by both the verification endpoint and the nightly job.

use parley_e2e::*;
use serde_json::Value;
use uuid::Uuid;

/// A user's conversation of `n` messages, over HTTP.
async fn conversation(n: usize) -> (Vec<(String, String)>, Uuid) {
    let who = as_user(Uuid::now_v7());
    let first = post_message(&who, "message 0", None).await;
    let id: Uuid = first.body["message"]["conversation_id"].as_str().unwrap().parse().unwrap();
    for i in 1..n {
        assert_eq!(post_message(&who, &format!("message {i}"), Some(id)).await.status, 201);
    }
    (who, id)
}

/// Runs SQL as the schema owner — what an intruder with database access could do.
async fn tamper(sql: &str, conversation: Uuid) {
    let db = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    db.batch_execute("BEGIN").await.unwrap();
    for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        db.execute(statement, &[&conversation]).await.unwrap_or_else(|e| panic!("{statement}: {e:?}"));
    }
    db.batch_execute("COMMIT").await.unwrap();
}

async fn endpoint_verdict(who: &[(String, String)], id: Uuid) -> Value {
    let reply = get_as(&format!("/v1/chat/conversations/{id}/verification"), who).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// Runs the job over every conversation (other tests' job runs may already have verified
/// this one before it was tampered with, and tampering adds no message) and returns what it
/// recorded for `id`.
async fn job_verdict(id: Uuid) -> (bool, Option<i32>) {
    let event = serde_json::json!({"detail-type": "Scheduled Event", "detail": {"full": true}});
    let report = parley_local::registry::invoke("verify-chains", event).await.expect("the job runs");
    assert!(report["verified"].as_u64().unwrap() >= 1, "{report}");
    let db = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    let row = db
        .query_one(
            "SELECT valid, first_invalid_index FROM chain_verifications WHERE conversation_id = $1 \
             ORDER BY verified_at DESC LIMIT 1",
            &[&id],
        )
        .await
        .expect("the job recorded a verification");
    (row.get(0), row.get(1))
}

async fn assert_broken_at(sql: &str, expected: i64) {
    let (who, id) = conversation(5).await;
    assert_eq!(endpoint_verdict(&who, id).await["valid"], true);
    tamper(sql, id).await;
    let verdict = endpoint_verdict(&who, id).await;
    assert_eq!(verdict["valid"], false, "{verdict}");
    assert_eq!(verdict["first_invalid_index"], expected, "{verdict}");
    assert!(verdict["reason"].is_string());
    assert_eq!(job_verdict(id).await, (false, Some(expected as i32)));
}

#[tokio::test]
async fn an_edited_message_is_found() {
    assert_broken_at(
        "UPDATE conversation_messages SET content = 'I never said that' WHERE conversation_id = $1 AND chain_index = 3",
        3,
    )
    .await;
}

#[tokio::test]
async fn a_deleted_message_is_found() {
    assert_broken_at("DELETE FROM conversation_messages WHERE conversation_id = $1 AND chain_index = 2", 2).await;
}

#[tokio::test]
async fn a_deleted_last_message_is_found() {
    // five messages and their replies: index 9 is the last
    assert_broken_at("DELETE FROM conversation_messages WHERE conversation_id = $1 AND chain_index = 9", 9).await;
}

#[tokio::test]
async fn reordered_messages_are_found() {
    assert_broken_at(
        "UPDATE conversation_messages SET chain_index = 1000 WHERE conversation_id = $1 AND chain_index = 1; \
         UPDATE conversation_messages SET chain_index = 1 WHERE conversation_id = $1 AND chain_index = 3; \
         UPDATE conversation_messages SET chain_index = 3 WHERE conversation_id = $1 AND chain_index = 1000",
        1,
    )
    .await;
}

#[tokio::test]
async fn an_inserted_message_is_found() {
    // Shift messages 2.. up by one, then forge message 2 linked to message 1.
    assert_broken_at(
        "UPDATE conversation_messages SET chain_index = chain_index + 1000 WHERE conversation_id = $1 AND chain_index >= 2; \
         UPDATE conversation_messages SET chain_index = chain_index - 999 WHERE conversation_id = $1 AND chain_index >= 1000; \
         INSERT INTO conversation_messages (id, conversation_id, chain_index, role, sender_kind, sender_id, content, \
             content_sha256, created_at, prev_hash, message_hash, chain_version) \
         SELECT gen_random_uuid(), conversation_id, 2, role, sender_kind, sender_id, 'forged', sha256('forged'), \
             created_at, message_hash, sha256(message_hash), 1 \
         FROM conversation_messages WHERE conversation_id = $1 AND chain_index = 1; \
         UPDATE conversations SET message_count = message_count + 1 WHERE id = $1",
        2,
    )
    .await;
}

#[tokio::test]
async fn an_untouched_conversation_is_recorded_valid_by_the_job() {
    let (_, id) = conversation(3).await;
    assert_eq!(job_verdict(id).await, (true, None));
}

#[tokio::test]
async fn the_nightly_run_verifies_a_conversation_changed_since_its_last_check() {
    // GIVEN a conversation verified by a run, that then gains a message
    let (who, id) = conversation(2).await;
    job_verdict(id).await;
    post_message(&who, "one more", Some(id)).await.assert_status(201);
    // WHEN the scheduled (incremental) run goes
    let event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("events/verify-chains/nightly.json")).unwrap())
            .unwrap();
    parley_local::registry::invoke("verify-chains", event).await.unwrap();
    // THEN it verified the conversation again, with its new message
    let db = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    let checked: i32 = db
        .query_one(
            "SELECT checked FROM chain_verifications WHERE conversation_id = $1 ORDER BY verified_at DESC LIMIT 1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(checked, 6, "three messages and their replies");
}

#[tokio::test]
async fn a_quote_card_whose_price_was_lowered_is_found() {
    // GIVEN a conversation whose assistant reply (message 1) carries quote cards
    let who = as_user(Uuid::now_v7());
    let first = post_message(&who, "BA117 tomorrow", None).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert!(first.body["reply"]["ui_elements"][0]["premium_cents"].as_i64().unwrap() > 1, "{}", first.body);
    let id: Uuid = first.body["message"]["conversation_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(endpoint_verdict(&who, id).await["valid"], true);
    // WHEN someone lowers the first card's premium in the database
    tamper(
        "UPDATE conversation_messages SET ui_elements = jsonb_set(ui_elements, '{0,premium_cents}', '1') \
         WHERE conversation_id = $1 AND chain_index = 1",
        id,
    )
    .await;
    // THEN the endpoint and the job find it at message 1
    let verdict = endpoint_verdict(&who, id).await;
    assert_eq!(
        (verdict["valid"].clone(), verdict["first_invalid_index"].clone()),
        (false.into(), 1.into()),
        "{verdict}"
    );
    assert_eq!(job_verdict(id).await, (false, Some(1)));
}
