//! `verify-chains` as README.md promises it: on a broken chain it "logs an error naming the
//! conversation and index and emits the `ChainsBroken` metric (CloudWatch EMF)"; it
//! re-verifies a conversation "last verified more than 7 days ago"
//! (`PARLEY_VERIFY_MAX_AGE_DAYS`), and skips unchanged ones. Each test has a database of its
//! own, so the job's counts are exact and nothing else running can disturb them.

use std::process::Command;

use parley_e2e::promises::{OwnDatabase, apigw_request, parts};
use parley_e2e::*;
use serde_json::{Value, json};
use uuid::Uuid;

/// A user's conversation of `n` messages (and their replies) in `db`, through chat-message.
async fn conversation(db: &OwnDatabase, n: usize) -> Uuid {
    let state = chat_message::State::from_source(&db.env(&[])).await.unwrap();
    let who = as_user(Uuid::now_v7());
    let mut id: Option<Uuid> = None;
    for i in 0..n {
        let mut body = json!({"content": format!("message {i}")});
        if let Some(id) = id {
            body["conversation_id"] = json!(id);
        }
        let req = apigw_request("POST", "/v1/chat/messages", "POST /v1/chat/messages", &who, Some(&body.to_string()));
        let (status, text) = parts(&chat_message::handle(&state, req).await);
        assert_eq!(status, 201, "{text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        id.get_or_insert(body["message"]["conversation_id"].as_str().unwrap().parse().unwrap());
    }
    id.unwrap()
}

async fn verifications_of(db: &OwnDatabase, id: Uuid) -> i64 {
    let owner = db.owner().await;
    owner.query_one("SELECT count(*) FROM chain_verifications WHERE conversation_id = $1", &[&id]).await.unwrap().get(0)
}

async fn age_verifications(db: &OwnDatabase, id: Uuid, days: i32) {
    db.owner()
        .await
        .execute(
            "UPDATE chain_verifications SET verified_at = now() - make_interval(days => $2) WHERE conversation_id = $1",
            &[&id, &days],
        )
        .await
        .unwrap();
}

fn job(db: &OwnDatabase, overrides: &[(&str, &str)]) -> verify_chains::State {
    verify_chains::State::from_source(&db.env(overrides)).unwrap()
}

#[test]
fn a_broken_chain_logs_an_error_naming_it_and_emits_chains_broken() {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        // GIVEN two conversations, one edited through SQL at index 3
        let db = OwnDatabase::create("verify_broken").await;
        let intact = conversation(&db, 2).await;
        let edited = conversation(&db, 3).await;
        db.owner()
            .await
            .execute(
                "UPDATE conversation_messages SET content = 'I never said that' WHERE conversation_id = $1 AND chain_index = 3",
                &[&edited],
            )
            .await
            .unwrap();
        // WHEN the nightly job runs as Lambda would run it (the built binary, its own output)
        let out = Command::new(binary("parley-local"))
            .args(["invoke", "verify-chains"])
            .arg(repo().join("events/verify-chains/nightly.json"))
            .env_clear()
            .envs(db.env(&[("PARLEY_LOG", "info")]))
            .output()
            .expect("parley-local runs");
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{stdout}\n{stderr}");
        let lines: Vec<Value> =
            stdout.lines().chain(stderr.lines()).filter_map(|l| serde_json::from_str::<Value>(l).ok()).collect();
        // THEN exactly one error line, naming the edited conversation and the index
        let errors: Vec<&Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
        assert_eq!(errors.len(), 1, "{stdout}\n{stderr}");
        let error = errors[0].to_string();
        assert!(error.contains(&edited.to_string()) && error.contains("Some(3)"), "{error}");
        assert!(!error.contains(&intact.to_string()), "{error}");
        // AND the EMF metric ChainsBroken = 1 (of ChainsVerified = 2), in the Parley namespace
        let metric = |name: &str| -> Vec<f64> {
            lines
                .iter()
                .filter(|l| l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] == name)
                .inspect(|l| assert_eq!(l["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Parley"))
                .map(|l| l[name].as_f64().unwrap())
                .collect()
        };
        assert_eq!(metric("ChainsBroken"), [1.0], "{stdout}");
        assert_eq!(metric("ChainsVerified"), [2.0], "{stdout}");
        db.drop_now().await;
    });
}

#[tokio::test]
async fn an_unchanged_conversation_is_skipped_until_its_verification_is_older_than_the_max_age() {
    // GIVEN two conversations, both verified by a run
    let db = OwnDatabase::create("verify_age").await;
    let (old, recent) = (conversation(&db, 1).await, conversation(&db, 1).await);
    assert_eq!(verify_chains::run(&job(&db, &[]), false).await.unwrap().verified, 2);
    // WHEN the next run goes with nothing changed THEN it verifies nothing
    assert_eq!(verify_chains::run(&job(&db, &[]), false).await.unwrap().verified, 0);
    assert_eq!((verifications_of(&db, old).await, verifications_of(&db, recent).await), (1, 1));
    // WHEN one was last verified 8 days ago and the other 6 (the default max age is 7)
    age_verifications(&db, old, 8).await;
    age_verifications(&db, recent, 6).await;
    // THEN the run re-verifies only the 8-day-old one
    assert_eq!(verify_chains::run(&job(&db, &[]), false).await.unwrap().verified, 1);
    assert_eq!((verifications_of(&db, old).await, verifications_of(&db, recent).await), (2, 1));
    // AND with PARLEY_VERIFY_MAX_AGE_DAYS=5 the 6-day-old one is due too
    let report = verify_chains::run(&job(&db, &[("PARLEY_VERIFY_MAX_AGE_DAYS", "5")]), false).await.unwrap();
    assert_eq!(report.verified, 1);
    assert_eq!((verifications_of(&db, old).await, verifications_of(&db, recent).await), (2, 2));
    db.drop_now().await;
}
