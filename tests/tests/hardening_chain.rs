//! Issue 13: the chain checker remembers what it verified — a consistent rewrite (a message
//! changed and every later hash recomputed) is found by the next run.

use chrono::{DateTime, Utc};
use parley_e2e::*;
use shared::chat::chain::{self, Format, Link, Sender};
use uuid::Uuid;

async fn job_verdict(id: Uuid) -> (bool, Option<i32>) {
    let event = serde_json::json!({"detail-type": "Scheduled Event", "detail": {"full": true}});
    parley_local::registry::invoke("verify-chains", event).await.expect("the job runs");
    let db = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    let row = db
        .query_one(
            "SELECT valid, first_invalid_index FROM chain_verifications WHERE conversation_id = $1 \
             ORDER BY verified_at DESC LIMIT 1",
            &[&id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// Replaces the content at `index` and recomputes every later link and the head, as the
/// schema owner: a rewrite that leaves no broken link.
async fn rewrite_consistently(id: Uuid, index: i32, content: &str) {
    let db = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    let rows = db
        .query(
            "SELECT chain_index, role, sender_kind, sender_id, content, created_at, prev_hash, content_salt, ui_elements \
             FROM conversation_messages WHERE conversation_id = $1 ORDER BY chain_index",
            &[&id],
        )
        .await
        .unwrap();
    let mut prev: Option<[u8; 32]> = None;
    for r in rows {
        let i: i32 = r.get(0);
        if i < index {
            continue;
        }
        let text: String = if i == index { content.to_owned() } else { r.get(4) };
        // Written in format 2, as the application writes it: the text under its salt.
        let salt: Vec<u8> = r.get(7);
        let digest = chain::salted_content_digest(&salt, &text);
        let ui_elements: serde_json::Value = r.get(8);
        let prev_hash: [u8; 32] = prev.unwrap_or_else(|| r.get::<_, Vec<u8>>(6).try_into().unwrap());
        let role: String = r.get(1);
        let created_at: DateTime<Utc> = r.get(5);
        let link = Link {
            format: Format::V2 { ui_elements_sha256: chain::ui_elements_digest(&ui_elements) },
            conversation_id: id,
            chain_index: i as u64,
            role: &role,
            sender: Sender::from_stored(r.get(2), r.get(3)).unwrap(),
            content_sha256: digest,
            created_at,
            prev_hash,
        };
        let hash = chain::message_hash(&link);
        db.execute(
            "UPDATE conversation_messages SET content = $3, content_sha256 = $4, prev_hash = $5, message_hash = $6 \
             WHERE conversation_id = $1 AND chain_index = $2",
            &[&id, &i, &text, &digest.to_vec(), &prev_hash.to_vec(), &hash.to_vec()],
        )
        .await
        .unwrap();
        db.execute("UPDATE conversations SET head_hash = $2 WHERE id = $1", &[&id, &hash.to_vec()]).await.unwrap();
        prev = Some(hash);
    }
}

#[tokio::test]
async fn a_consistent_rewrite_of_a_verified_chain_is_found() {
    // GIVEN a conversation of six messages the job has verified
    let who = as_user(Uuid::now_v7());
    let first = post_message(&who, "I will pay you back on Friday", None).await;
    let id: Uuid = first.body["message"]["conversation_id"].as_str().unwrap().parse().unwrap();
    post_message(&who, "promise", Some(id)).await;
    post_message(&who, "see you then", Some(id)).await;
    assert_eq!(job_verdict(id).await, (true, None));
    // WHEN someone with database access rewrites message 0 and recomputes every hash after it
    rewrite_consistently(id, 0, "I never said I would pay").await;
    let page = get_as(&format!("/v1/chat/conversations/{id}/verification"), &who).await;
    assert_eq!(page.body["valid"], true, "the links alone still hold: {}", page.body);
    // THEN the next run finds it: the head it verified is no longer in the chain
    assert_eq!(job_verdict(id).await, (false, Some(5)));
}

#[tokio::test]
async fn the_service_role_changes_messages_only_through_the_audited_erasure() {
    // GIVEN a conversation whose first message was stored with tone indicators
    let who = as_user(Uuid::now_v7());
    let first = post_message(&who, "you never listen, call me on 07700 900123", None).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let id: Uuid = first.body["message"]["conversation_id"].as_str().unwrap().parse().unwrap();
    let message: Uuid = first.body["message"]["id"].as_str().unwrap().parse().unwrap();
    let service = connect(&setting("PARLEY_SERVICE_DATABASE_URL")).await;
    // WHEN the service role edits or deletes it directly; THEN permission is denied
    for sql in [
        "UPDATE conversation_messages SET content = 'edited' WHERE id = $1",
        "DELETE FROM conversation_messages WHERE id = $1",
    ] {
        let err = service.execute(sql, &[&message]).await.unwrap_err();
        assert!(err.as_db_error().unwrap().message().contains("permission denied"), "{sql}: {err:?}");
    }
    // WHEN it erases the message through the function
    let erased: bool = service
        .query_one("SELECT erase_message($1, 'the user asked', 'req-erase-1')", &[&message])
        .await
        .unwrap()
        .get(0);
    assert!(erased);
    // THEN the text and the indicators' quotes are gone, the erasure is audited, and the
    // chain still verifies
    let owner = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    let row = owner
        .query_one(
            "SELECT content, tone, content_salt, content_sha256 FROM conversation_messages WHERE id = $1",
            &[&message],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<String>>(0), None);
    // AND the salt went with it, so the stored digest is not the text's plain SHA-256:
    // hashing guesses cannot find the erased text again
    assert_eq!(row.get::<_, Option<Vec<u8>>>(2), None);
    let digest: Vec<u8> = row.get(3);
    assert_ne!(digest, chain::content_digest("you never listen, call me on 07700 900123").to_vec());
    let tone: serde_json::Value = row.get(1);
    assert!(!tone.to_string().contains("never") && !tone.to_string().contains("\"text\""), "{tone}");
    let audited: i64 = owner
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'message.erased' AND subject_id = $1 AND details ->> 'reason' = 'the user asked'",
            &[&message],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 1);
    let page = get_as(&format!("/v1/chat/conversations/{id}/verification"), &who).await;
    assert_eq!(page.body["valid"], true, "{}", page.body);
    // AND erasing again changes nothing
    let again: bool = service.query_one("SELECT erase_message($1, 'again', NULL)", &[&message]).await.unwrap().get(0);
    assert!(!again);
}
