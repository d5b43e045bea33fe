//! Issue 13: tokens (claimed sessions), any identity provider, and what the API role may
//! do in the database (ledger credits, the claim).

use std::collections::HashSet;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parley_e2e::*;
use serde_json::json;
use uuid::Uuid;

/// A user token for any `sub`, signed with the stack's local settings.
fn token_for_subject(sub: &str) -> Vec<(String, String)> {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": sub, "iss": setting("PARLEY_JWT_ISSUER"), "aud": setting("PARLEY_JWT_AUDIENCE"),
        "iat": now, "exp": now + 600});
    let key = EncodingKey::from_secret(setting("PARLEY_JWT_SECRET").as_bytes());
    let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
    vec![("authorization".into(), format!("Bearer {token}"))]
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", Uuid::now_v7().simple())
}

#[tokio::test]
async fn subjects_of_any_provider_get_a_stable_internal_user_id() {
    for subject in [unique("auth0|5f7c"), unique("user_2abc"), unique("Xk9").chars().take(28).collect()] {
        // GIVEN a token from an Auth0-, Clerk- or Firebase-style provider
        let who = token_for_subject(&subject);
        // WHEN it is used twice
        let first = get_as("/v1/sessions/me", &who).await;
        let again = get_as("/v1/sessions/me", &who).await;
        // THEN both answer with the same internal UUIDv7, which is not the subject
        assert_eq!(first.status, 200, "{subject}: {}", first.body);
        let id: Uuid = first.body["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(id.get_version_num(), 7, "{subject}");
        assert_eq!(again.body["id"], first.body["id"]);
        // AND the internal id owns what the user creates
        assert_eq!(get_as("/v1/cart", &who).await.status, 200);
    }
}

#[tokio::test]
async fn two_concurrent_first_sights_of_a_subject_cannot_make_two_users() {
    // GIVEN a subject never seen; WHEN 16 connections map it at the same moment
    let subject = unique("auth0|");
    let issuer = setting("PARLEY_JWT_ISSUER");
    let ids: Vec<Uuid> = futures::future::join_all((0..16).map(|_| {
        let (subject, issuer) = (subject.clone(), issuer.clone());
        async move {
            let db = connect(&setting("DATABASE_URL")).await;
            let row = db.query_one("SELECT user_id_for($1, $2, $3)", &[&issuer, &subject, &Uuid::now_v7()]).await;
            row.unwrap().get(0)
        }
    }))
    .await;
    // THEN every one got the same id, and there is one row
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 1, "{ids:?}");
    let owner = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    let n: i64 = owner.query_one("SELECT count(*) FROM users WHERE subject = $1", &[&subject]).await.unwrap().get(0);
    assert_eq!(n, 1);
    // AND over HTTP, concurrent first requests agree too
    let who = token_for_subject(&unique("user_2"));
    let replies = futures::future::join_all((0..8).map(|_| get_as("/v1/sessions/me", &who))).await;
    let ids: HashSet<String> = replies.iter().map(|r| r.body["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

#[tokio::test]
async fn an_anonymous_token_is_refused_once_its_session_is_claimed() {
    // GIVEN an anonymous visitor with a conversation, claimed by a user
    let (_, token) = anonymous_session().await;
    let anon = as_anonymous(&token);
    assert_eq!(post_message(&anon, "hello", None).await.status, 201);
    let mut both = as_user(Uuid::now_v7());
    both.extend(anon.clone());
    let claimed = post_as("/v1/sessions/claim", &both).await;
    assert_eq!(claimed.status, 200, "{}", claimed.body);
    // WHEN the anonymous token alone is used again
    let after = post_message(&anon, "still here?", None).await;
    // THEN it is refused, so nothing is created and stranded
    after.assert_problem(401);
    get_as("/v1/cart", &anon).await.assert_problem(401);
    // AND claiming again with the same user still succeeds
    assert_eq!(post_as("/v1/sessions/claim", &both).await.status, 200);
}

#[tokio::test]
async fn the_api_role_cannot_update_anonymous_sessions_directly() {
    // GIVEN the API role with an anonymous session's context
    let (session, _) = anonymous_session().await;
    let db = connect(&setting("DATABASE_URL")).await;
    db.batch_execute(&format!("BEGIN; SELECT set_config('app.anonymous_session_id', '{session}', true)"))
        .await
        .unwrap();
    // WHEN it tries to extend or claim its session with a plain UPDATE; THEN permission is denied
    let err = db.execute("UPDATE anonymous_sessions SET expires_at = now() + interval '1 year'", &[]).await;
    let err = err.unwrap_err();
    assert!(err.as_db_error().unwrap().message().contains("permission denied"), "{err:?}");
}

/// A wallet for a new user, made through the API (faucet credited), and its id.
async fn wallet() -> (Uuid, Uuid) {
    let user = Uuid::now_v7();
    assert_eq!(post_as("/v1/wallets", &as_user(user)).await.status, 201);
    let owner = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    let id = owner.query_one("SELECT id FROM user_wallets WHERE user_id = $1", &[&user]).await.unwrap().get(0);
    (user, id)
}

async fn post_as_api(user: Uuid, wallet: Uuid, amount: i64, reason: &str, reference: &str) -> Result<String, String> {
    let db = connect(&setting("DATABASE_URL")).await;
    db.batch_execute(&format!("BEGIN; SELECT set_config('app.user_id', '{user}', true)")).await.unwrap();
    db.query_one("SELECT outcome FROM ledger_post($1, $2, $3, $4)", &[&wallet, &amount, &reason, &reference])
        .await
        .map(|r| r.get(0))
        .map_err(|e| e.as_db_error().map(|d| d.message().to_owned()).unwrap_or_default())
}

#[tokio::test]
async fn the_api_role_may_only_debit_its_wallet_for_a_purchase() {
    let (user, wallet) = wallet().await;
    // WHEN the API role credits its own wallet as a refund, or a second faucet
    for (amount, reason, reference) in
        [(900_000_000, "refund", "r"), (1_000, "faucet", "faucet-again"), (1_000, "purchase", "p")]
    {
        // THEN the database refuses
        let refused = post_as_api(user, wallet, amount, reason, reference).await;
        assert!(refused.is_err(), "{reason} {amount}: {refused:?}");
    }
    let faucet_again = post_as_api(user, wallet, 1_000, "faucet", &format!("faucet:{wallet}")).await;
    assert!(faucet_again.is_err(), "{faucet_again:?}");
    // AND a purchase debit is allowed
    assert_eq!(post_as_api(user, wallet, -1_000, "purchase", &format!("order-{wallet}")).await.unwrap(), "applied");
    // AND a refund from the service role is allowed
    let service = connect(&setting("PARLEY_SERVICE_DATABASE_URL")).await;
    let outcome: String = service
        .query_one("SELECT outcome FROM ledger_post($1, 1000, 'refund', $2)", &[&wallet, &format!("refund-{wallet}")])
        .await
        .unwrap()
        .get(0);
    assert_eq!(outcome, "applied");
}

#[tokio::test]
async fn the_database_refuses_a_faucet_in_production() {
    // GIVEN a wallet, and the database labelled prod (inside a transaction we roll back,
    // so other tests never see it)
    let (_, wallet) = wallet().await;
    let owner = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    owner.batch_execute("BEGIN; UPDATE deployment SET stage = 'prod'").await.unwrap();
    // WHEN even a privileged role posts faucet money; THEN it is refused
    let err = owner.query_one("SELECT outcome FROM ledger_post($1, 1000, 'faucet', 'prod-faucet')", &[&wallet]).await;
    assert!(err.unwrap_err().as_db_error().unwrap().message().contains("production"));
    owner.batch_execute("ROLLBACK").await.unwrap();
}
