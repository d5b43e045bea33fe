//! Custodial wallets end to end: KMS (moto) through the real AWS SDK, PostgreSQL with RLS,
//! and signatures checked with libsecp256k1 — not the code that signed.

use std::collections::HashMap;

use base64::Engine;
use parley_e2e::*;
use serde_json::json;
use shared::platform::aws::aws_sdk_kms;
use shared::platform::aws::aws_sdk_kms::primitives::Blob;
use uuid::Uuid;

/// Keccak-256 with tiny-keccak (independent of the `sha3` crate the service uses).
fn keccak(data: &[&[u8]]) -> [u8; 32] {
    use tiny_keccak::{Hasher, Keccak};
    let mut k = Keccak::v256();
    for d in data {
        k.update(d);
    }
    let mut out = [0u8; 32];
    k.finalize(&mut out);
    out
}

fn address_of(public: &secp256k1::PublicKey) -> String {
    let hash = keccak(&[&public.serialize_uncompressed()[1..]]);
    format!("0x{}", hex(&hash[12..]))
}

/// Recovers the signer of an EIP-191 personal_sign signature with libsecp256k1.
fn recover(message: &str, signature: &str) -> String {
    let sig: Vec<u8> =
        (2..signature.len()).step_by(2).map(|i| u8::from_str_radix(&signature[i..i + 2], 16).unwrap()).collect();
    assert_eq!(sig.len(), 65);
    assert!(sig[64] == 27 || sig[64] == 28, "v = {}", sig[64]);
    let prefix = format!("\x19Ethereum Signed Message:\n{}", message.len());
    let digest = keccak(&[prefix.as_bytes(), message.as_bytes()]);
    let recid = secp256k1::ecdsa::RecoveryId::try_from(i32::from(sig[64] - 27)).unwrap();
    let recoverable = secp256k1::ecdsa::RecoverableSignature::from_compact(&sig[..64], recid).unwrap();
    address_of(&recoverable.recover_ecdsa(secp256k1::Message::from_digest(digest)).unwrap())
}

async fn create_wallet(who: &[(String, String)]) -> Reply {
    post_as("/v1/wallets", who).await
}

async fn kms() -> aws_sdk_kms::Client {
    shared::platform::aws::kms(&shared::platform::aws::load().await)
}

/// The stored row of a user's wallet, read as the schema owner.
async fn stored(user: Uuid) -> (Uuid, String, Vec<u8>, String) {
    let db = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    let r = db
        .query_one(
            "SELECT id, address, encrypted_private_key, kms_key_id FROM user_wallets WHERE user_id = $1",
            &[&user],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

async fn decrypt(ciphertext: &[u8], context: HashMap<String, String>) -> Result<Vec<u8>, String> {
    kms()
        .await
        .decrypt()
        .ciphertext_blob(Blob::new(ciphertext))
        .set_encryption_context(Some(context))
        .send()
        .await
        .map(|o| o.plaintext.unwrap().into_inner())
        .map_err(|e| shared::platform::aws::describe(&e))
}

fn documented_context(wallet: Uuid, user: Uuid) -> HashMap<String, String> {
    HashMap::from([
        ("purpose".into(), "wallet-key".into()),
        ("wallet_id".into(), wallet.to_string()),
        ("user_id".into(), user.to_string()),
    ])
}

#[tokio::test]
async fn create_fetch_and_sign_and_the_signature_recovers_to_the_address() {
    let user = Uuid::now_v7();
    let who = as_user(user);
    // WHEN a user creates a wallet
    let created = create_wallet(&who).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let address = created.body["address"].as_str().unwrap().to_owned();
    assert!(address.starts_with("0x") && address.len() == 42);
    assert_ne!(address.to_lowercase(), address, "EIP-55 mixes case");
    // THEN fetching it shows the address and the faucet balance, and no key material
    let fetched = get_as("/v1/wallets/me", &who).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body["address"], address.as_str());
    assert_eq!(fetched.body["balance"], json!({"amount": 1_000_000, "currency": "USD"}));
    let keys: Vec<&String> = fetched.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["address", "balance", "created_at", "id"]);
    // AND creating again returns the same wallet
    let again = create_wallet(&who).await;
    assert_eq!((again.status, &again.body["id"]), (200, &created.body["id"]));
    // WHEN it signs a message THEN libsecp256k1 recovers the wallet's address
    let message = "I agree to the terms. Nonce: 8f1b";
    let signed = post_json_as("/v1/wallets/me/signatures", &who, &json!({"message": message})).await;
    assert_eq!(signed.status, 200, "{}", signed.body);
    assert_eq!(signed.body["address"], address.as_str());
    assert_eq!(recover(message, signed.body["signature"].as_str().unwrap()), address.to_lowercase());
    // AND the audit log holds the signing with the message's hash, not its text
    let db = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    let rows = db
        .query(
            "SELECT action, details::text FROM audit_log WHERE subject_id = $1 ORDER BY occurred_at",
            &[&created.body["id"].as_str().unwrap().parse::<Uuid>().unwrap()],
        )
        .await
        .unwrap();
    let actions: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(actions, ["wallet.created", "wallet.message_signed"]);
    let details: String = rows[1].get(1);
    assert!(details.contains("message_sha256") && !details.contains("Nonce"), "{details}");
}

#[tokio::test]
async fn the_database_holds_no_plaintext_key_and_kms_binds_it_to_its_wallet() {
    let user = Uuid::now_v7();
    assert_eq!(create_wallet(&as_user(user)).await.status, 201);
    let (wallet, address, ciphertext, _) = stored(user).await;
    // Decrypting with the documented context gives a key that derives the stored address
    let secret = decrypt(&ciphertext, documented_context(wallet, user)).await.unwrap();
    assert_eq!(secret.len(), 32);
    let sk = secp256k1::SecretKey::from_secret_bytes(secret.clone().try_into().unwrap()).unwrap();
    assert_eq!(address_of(&secp256k1::PublicKey::from_secret_key(&sk)), address.to_lowercase());
    // No column of any wallet-related row holds the key: raw, hex or base64
    let db = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    let forms = [
        hex(&secret),
        hex(&secret).to_uppercase(),
        base64::engine::general_purpose::STANDARD.encode(&secret),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&secret),
    ];
    for table in ["user_wallets", "wallet_ledger", "audit_log"] {
        let rows = db.query(&format!("SELECT row_to_json(t)::text FROM {table} t"), &[]).await.unwrap();
        for r in &rows {
            let text: String = r.get(0);
            for form in &forms {
                assert!(!text.contains(form.as_str()), "{table} holds the key");
            }
        }
    }
    let raw_hits: i64 = db
        .query_one(
            "SELECT count(*) FROM user_wallets WHERE position($1::bytea IN encrypted_private_key) > 0 \
             OR position($1::bytea IN convert_to(address, 'UTF8')) > 0",
            &[&secret],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(raw_hits, 0);
    // With another wallet's context, KMS refuses
    // (InvalidCiphertextException: the context is part of the authenticated data)
    for (context, which) in [
        (documented_context(Uuid::now_v7(), user), "another wallet id"),
        (documented_context(wallet, Uuid::now_v7()), "another user id"),
    ] {
        let refused = decrypt(&ciphertext, context).await.expect_err(which);
        assert!(refused.contains("InvalidCiphertext"), "{which}: {refused}");
    }
}

#[tokio::test]
async fn twenty_concurrent_creates_make_one_wallet() {
    let user = Uuid::now_v7();
    let who = as_user(user);
    let replies = futures::future::join_all((0..20).map(|_| create_wallet(&who))).await;
    let ids: std::collections::BTreeSet<String> = replies.iter().map(|r| r.body["id"].to_string()).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 1);
    assert_eq!(replies.iter().filter(|r| r.status == 200).count(), 19);
    let db = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    let (wallets, faucet): (i64, i64) = {
        let r = db
            .query_one(
                "SELECT (SELECT count(*) FROM user_wallets WHERE user_id = $1), \
                 (SELECT count(*) FROM wallet_ledger l JOIN user_wallets w ON w.id = l.wallet_id WHERE w.user_id = $1)",
                &[&user],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((wallets, faucet), (1, 1), "one wallet, credited once");
}

#[tokio::test]
async fn kms_unreachable_is_503_and_leaves_no_wallet() {
    let port = closed_port();
    let sdk = shared::platform::aws::load().await;
    let dead_kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(&sdk).endpoint_url(format!("http://127.0.0.1:{port}")).build(),
    );
    let state = wallet_create::State::from_source(&env_with(&[]))
        .await
        .unwrap()
        .with_custody(shared::wallets::custody::KeyCustody::new(dead_kms, setting("PARLEY_KMS_KEY_ID")));
    let user = Uuid::now_v7();
    let resp = wallet_create::handle(&state, bearer_request("POST", "/v1/wallets", &user_token(user), None)).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let db = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    let n: i64 = db.query_one("SELECT count(*) FROM user_wallets WHERE user_id = $1", &[&user]).await.unwrap().get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn asking_again_for_a_wallet_returns_it_without_calling_kms() {
    // GIVEN a user with a wallet, and a function whose KMS cannot be reached
    let user = Uuid::now_v7();
    let first = create_wallet(&as_user(user)).await;
    first.assert_status(201);
    let sdk = shared::platform::aws::load().await;
    let dead_kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(&sdk).endpoint_url(format!("http://127.0.0.1:{}", closed_port())).build(),
    );
    let state = wallet_create::State::from_source(&env_with(&[]))
        .await
        .unwrap()
        .with_custody(shared::wallets::custody::KeyCustody::new(dead_kms, setting("PARLEY_KMS_KEY_ID")));
    // WHEN the user asks again THEN the same wallet comes back (200), so no KMS call was made
    let resp = wallet_create::handle(&state, bearer_request("POST", "/v1/wallets", &user_token(user), None)).await;
    assert_eq!(resp.status(), 200);
    let body = body_json(&resp);
    assert_eq!(body["id"], first.body["id"]);
    assert_eq!(body["address"], first.body["address"]);
}

#[tokio::test]
async fn signing_needs_a_user_a_wallet_and_a_short_message_and_is_rate_limited() {
    let (_, anon) = anonymous_session().await;
    post_json_as("/v1/wallets/me/signatures", &as_anonymous(&anon), &json!({"message": "hi"}))
        .await
        .assert_problem(401);
    let user = Uuid::now_v7();
    post_json_as("/v1/wallets/me/signatures", &as_user(user), &json!({"message": "hi"})).await.assert_problem(404);
    get_as("/v1/wallets/me", &as_user(user)).await.assert_problem(404);
    create_wallet(&as_user(user)).await.assert_status(201);
    let long = post_json_as("/v1/wallets/me/signatures", &as_user(user), &json!({"message": "é".repeat(2049)})).await;
    long.assert_problem(422);
    assert_eq!(long.body["errors"][0]["field"], "message");
    // With a limit of 2 a minute, the third signature is refused (a fresh user: the requests
    // above already count against this one's window)
    let user = Uuid::now_v7();
    create_wallet(&as_user(user)).await.assert_status(201);
    let state = wallet_sign::State::from_source(&env_with(&[("PARLEY_SIGN_RATE_LIMIT", "2/60s")])).await.unwrap();
    let sign = || {
        let req =
            bearer_request("POST", "/v1/wallets/me/signatures", &user_token(user), Some(&json!({"message": "hello"})));
        let state = state.clone();
        async move { wallet_sign::handle(&state, req).await.status().as_u16() }
    };
    // Fixed windows may roll over once mid-burst, so allow up to two windows' worth.
    let mut signed = 0;
    while sign().await == 200 {
        signed += 1;
        assert!(signed <= 4, "no 429 after {signed} signatures");
    }
    assert!(signed >= 2, "refused after only {signed}");
}

#[tokio::test]
async fn concurrent_debits_never_take_a_balance_below_zero() {
    use shared::wallets::ledger::{self, Outcome, Reason};
    let user = Uuid::now_v7();
    assert_eq!(create_wallet(&as_user(user)).await.status, 201);
    let (wallet, ..) = stored(user).await;
    // Ten at a time, each on its own connection: they contend for the wallet's row lock, and
    // no waiter queues behind more than nine others, so a loaded machine cannot push one
    // past the 5 s statement timeout (or a pool slot's wait).
    let db = shared::platform::db::Database::connect_lazily(&setting("DATABASE_URL"), 10).unwrap();
    let caller = shared::platform::identity::Caller::user(user);
    // 30 debits of 50 000 against 1 000 000: exactly 20 can succeed
    use futures::StreamExt as _;
    let outcomes: Vec<Outcome> = futures::stream::iter(0..30)
        .map(|i| {
            let db = db.clone();
            async move {
                let tx = db.begin(&caller).await.unwrap();
                let (outcome, balance) =
                    ledger::post(&tx, wallet, -50_000, Reason::Purchase, &format!("order:{i}")).await.unwrap();
                tx.commit().await.unwrap();
                assert!(balance >= 0);
                outcome
            }
        })
        .buffer_unordered(10)
        .collect()
        .await;
    assert_eq!(outcomes.iter().filter(|o| **o == Outcome::Applied).count(), 20);
    assert_eq!(outcomes.iter().filter(|o| **o == Outcome::InsufficientFunds).count(), 10);
    // a repeated reference changes nothing (credits come from the service role)
    let service = shared::platform::db::Database::connect_lazily(&setting("PARLEY_SERVICE_DATABASE_URL"), 1).unwrap();
    let tx = service.begin_service().await.unwrap();
    let dup = ledger::post(&tx, wallet, 10_000, Reason::Refund, "faucet-free-ref").await.unwrap();
    let again = ledger::post(&tx, wallet, 10_000, Reason::Refund, "faucet-free-ref").await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!((dup.0, again.0), (Outcome::Applied, Outcome::Duplicate));
    assert_eq!(again.1, 10_000);
    // the balance is the ledger's sum, and every transaction sums to zero
    let owner = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    let r = owner
        .query_one(
            "SELECT w.balance_cents, (SELECT sum(amount_cents) FROM wallet_ledger WHERE wallet_id = w.id)::bigint, \
             (SELECT count(*) FROM (SELECT transaction_id FROM wallet_ledger GROUP BY transaction_id \
                                    HAVING sum(amount_cents) <> 0) unbalanced) \
             FROM user_wallets w WHERE w.id = $1",
            &[&wallet],
        )
        .await
        .unwrap();
    let (balance, ledger_sum, unbalanced): (i64, i64, i64) = (r.get(0), r.get(1), r.get(2));
    assert_eq!((balance, ledger_sum, unbalanced), (10_000, 10_000, 0));
    // another user cannot post to this wallet
    let stranger = shared::platform::identity::Caller::user(Uuid::now_v7());
    let tx = db.begin(&stranger).await.unwrap();
    let refused = ledger::post(&tx, wallet, 1, Reason::Refund, "steal").await.expect_err("a stranger posted");
    assert!(refused.to_string().contains("no such wallet"), "{refused}");
}

#[tokio::test]
async fn rewrap_moves_every_wallet_to_a_new_key_and_they_still_sign() {
    // GIVEN wallets under the current key
    let users: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    for u in &users {
        assert_eq!(create_wallet(&as_user(*u)).await.status, 201);
    }
    // WHEN the stack points at a new KMS key and the job runs (first as a dry run)
    let new_key = kms().await.create_key().description("parley test rotation").send().await.unwrap();
    let new_arn = new_key.key_metadata().unwrap().arn().unwrap().to_owned();
    let env = env_with(&[("PARLEY_KMS_KEY_ID", &new_arn), ("PARLEY_REWRAP_BATCH_SIZE", "2")]);
    let state = rewrap_wallet_keys::State::from_source(&env).await.unwrap();
    let dry = rewrap_wallet_keys::run(&state, true).await.unwrap();
    assert!(dry.dry_run && dry.rewrapped >= 3, "{dry:?}");
    let mine: Vec<(Uuid, String, Vec<u8>, String)> = futures::future::join_all(users.iter().map(|u| stored(*u))).await;
    assert!(mine.iter().all(|w| w.3 != new_arn), "a dry run changes nothing");
    let (a, b) = tokio::join!(rewrap_wallet_keys::run(&state, false), rewrap_wallet_keys::run(&state, false));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.rewrapped + b.rewrapped >= 3 && a.failed + b.failed == 0, "{a:?} {b:?}");
    // THEN every one of them is under the new key, decrypts with its context, and still signs
    for (u, (wallet, address, old_ciphertext, _)) in users.iter().zip(mine) {
        let (_, _, ciphertext, key) = stored(*u).await;
        assert_eq!(key, new_arn);
        assert_ne!(ciphertext, old_ciphertext);
        let secret = decrypt(&ciphertext, documented_context(wallet, *u)).await.unwrap();
        let sk = secp256k1::SecretKey::from_secret_bytes(secret.try_into().unwrap()).unwrap();
        assert_eq!(address_of(&secp256k1::PublicKey::from_secret_key(&sk)), address.to_lowercase());
        let signed =
            post_json_as("/v1/wallets/me/signatures", &as_user(*u), &json!({"message": "after rotation"})).await;
        assert_eq!(signed.status, 200, "{}", signed.body);
        assert_eq!(recover("after rotation", signed.body["signature"].as_str().unwrap()), address.to_lowercase());
    }
    // AND a second run has nothing left of these to move
    let owner = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    let audited: i64 = owner
        .query_one(
            "SELECT count(*) FROM audit_log a JOIN user_wallets w ON w.id = a.subject_id \
             WHERE a.action = 'wallet.key_rewrapped' AND w.user_id = ANY($1)",
            &[&users],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 3);
}

#[tokio::test]
async fn wallet_creation_honours_idempotency_key() {
    let user = Uuid::now_v7();
    let mut headers = as_user(user);
    headers.push(("idempotency-key".into(), Uuid::now_v7().to_string()));
    let first = post_as("/v1/wallets", &headers).await;
    let replay = post_as("/v1/wallets", &headers).await;
    assert_eq!(first.status, 201, "{}", first.body);
    // The same key replays the first answer byte for byte — 201, not the 200 a new request gets
    assert_eq!(replay.status, 201, "{}", replay.body);
    assert_eq!(replay.raw, first.raw, "the replay is the first answer's bytes");
    assert_eq!(replay.replayable_headers(), first.replayable_headers(), "and its headers");
    assert!(first.replayable_headers().iter().any(|(name, _)| name == "content-type"));
    assert_eq!(replay.header("idempotent-replayed"), "true");
    let fresh = post_as("/v1/wallets", &as_user(user)).await;
    assert_eq!((fresh.status, &fresh.body["id"]), (200, &first.body["id"]));
}

/// Key custody whose KMS accepts the connection and answers nothing, so each call times out
/// after a second (503); and a database URL with an `application_name` of its own, starting
/// with `label`, so only that state's connections are counted ([`connection_states`]).
async fn hanging_kms_and_own_database(label: &str) -> (shared::wallets::custody::KeyCustody, String, String) {
    let hung = hanging_server().await;
    let sdk = shared::platform::aws::load().await;
    let slow_kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(&sdk)
            .endpoint_url(hung)
            .timeout_config(
                aws_sdk_kms::config::timeout::TimeoutConfig::builder()
                    .operation_timeout(std::time::Duration::from_secs(1))
                    .build(),
            )
            .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
            .build(),
    );
    let custody = shared::wallets::custody::KeyCustody::new(slow_kms, setting("PARLEY_KMS_KEY_ID"));
    let name = format!("{label}-kms-{}", Uuid::now_v7().simple());
    let url = format!("{}?application_name={name}", setting("PARLEY_DATABASE_URL"));
    (custody, name, url)
}

#[tokio::test]
async fn creating_a_wallet_holds_no_database_transaction_while_kms_answers() {
    // GIVEN a user without a wallet, and a KMS that accepts the connection and answers nothing
    // for a second (its requests then time out: 503)
    let user = Uuid::now_v7();
    let (custody, name, url) = hanging_kms_and_own_database("create").await;
    let state = wallet_create::State::from_source(&env_with(&[("PARLEY_DATABASE_URL", &url)]))
        .await
        .unwrap()
        .with_custody(custody);
    // WHEN a wallet is requested, and half-way through the KMS wait the database is asked
    // what this state's connections are doing
    let request = bearer_request("POST", "/v1/wallets", &user_token(user), None);
    let creating = tokio::spawn(async move { wallet_create::handle(&state, request).await });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let states = connection_states(&name).await;
    // THEN the handler looked for a wallet (a connection exists) and holds no transaction
    // (nor the per-user lock) while KMS answers
    assert!(!states.is_empty(), "the handler has not reached the database yet");
    assert!(states.iter().all(|s| s == "idle"), "a transaction waits on KMS: {states:?}");
    // AND the request ends in a 503, with no wallet written
    let resp = creating.await.unwrap();
    assert_eq!(resp.status(), 503);
    let db = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    let wallets: i64 =
        db.query_one("SELECT count(*) FROM user_wallets WHERE user_id = $1", &[&user]).await.unwrap().get(0);
    assert_eq!(wallets, 0);
}

#[tokio::test]
async fn signing_holds_no_database_transaction_while_kms_answers() {
    // GIVEN a user with a wallet, and a KMS that accepts the connection and answers nothing
    // for a second (its requests then time out: 503)
    let user = Uuid::now_v7();
    create_wallet(&as_user(user)).await.assert_status(201);
    let (custody, name, url) = hanging_kms_and_own_database("sign").await;
    let state = wallet_sign::State::from_source(&env_with(&[("PARLEY_DATABASE_URL", &url)]))
        .await
        .unwrap()
        .with_custody(custody);
    // WHEN a signature is requested, and half-way through the KMS wait the database is asked
    // what this state's connections are doing
    let request =
        bearer_request("POST", "/v1/wallets/me/signatures", &user_token(user), Some(&json!({"message": "I agree"})));
    let signing = tokio::spawn(async move { wallet_sign::handle(&state, request).await });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let states = connection_states(&name).await;
    // THEN the wallet was read (a connection exists) and nothing is held in a transaction
    assert!(!states.is_empty(), "the handler has not reached the database yet");
    assert!(states.iter().all(|s| s == "idle"), "a transaction waits on KMS: {states:?}");
    // AND the request ends in a 503, with no signing recorded
    let resp = signing.await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(signings_recorded(user).await, 0);
}
