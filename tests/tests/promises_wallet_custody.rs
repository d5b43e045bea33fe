//! docs/key-custody.md: "a ciphertext copied onto another wallet's row does not decrypt,
//! because that row's context differs" — checked through the signing endpoint, with the
//! attack done in full (the ciphertext and the address it derives), so only the KMS
//! encryption context stands between wallet B's user and wallet A's key.
//!
//! The tampered rows live in a database of the test's own, served by a gateway of its own:
//! jobs that walk every wallet (rewrap-wallet-keys, in wallets.rs) must not meet them.

use parley_e2e::promises::{OwnDatabase, OwnGateway};
use parley_e2e::*;
use serde_json::json;
use uuid::Uuid;

async fn wallet_of(db: &tokio_postgres::Client, user: Uuid) -> (Uuid, String, Vec<u8>, String) {
    let r = db
        .query_one(
            "SELECT id, address, encrypted_private_key, kms_key_id FROM user_wallets WHERE user_id = $1",
            &[&user],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

#[tokio::test]
async fn a_ciphertext_copied_from_another_wallets_row_signs_nothing() {
    // GIVEN two users with a wallet each
    let db = OwnDatabase::create("custody").await;
    let env = db.env(&[]);
    let overrides: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let gateway = OwnGateway::start(&overrides).await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    for user in [alice, bob] {
        let created =
            send(client().post(format!("{}/v1/wallets", gateway.url)).headers(header_map(&as_user(user)))).await;
        assert_eq!(created.status, 201, "{}", created.body);
    }
    let owner = db.owner().await;
    let (alice_wallet, alice_address, alice_ciphertext, alice_key) = wallet_of(&owner, alice).await;
    let (bob_wallet, ..) = wallet_of(&owner, bob).await;
    // AND someone with write access to the database gives Bob's row Alice's ciphertext, key id
    // and address (Alice's row gets another address, as the address is unique)
    let parked = format!("0x{}", "0".repeat(28) + &alice_wallet.simple().to_string()[20..]);
    owner.execute("UPDATE user_wallets SET address = $2 WHERE id = $1", &[&alice_wallet, &parked]).await.unwrap();
    owner
        .execute(
            "UPDATE user_wallets SET encrypted_private_key = $2, kms_key_id = $3, address = $4 WHERE id = $1",
            &[&bob_wallet, &alice_ciphertext, &alice_key, &alice_address],
        )
        .await
        .unwrap();
    // WHEN Bob asks to sign a message
    let reply = send(
        client()
            .post(format!("{}/v1/wallets/me/signatures", gateway.url))
            .headers(header_map(&as_user(bob)))
            .json(&json!({"message": "pay 100 to bob"})),
    )
    .await;
    // THEN it is refused with a 500 (KMS answered and refused: not an outage to retry),
    // carrying no signature
    reply.assert_problem(500);
    assert!(reply.body.get("signature").is_none(), "{}", reply.body);
    // AND nothing was signed with either wallet
    let signed: i64 = owner
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'wallet.message_signed' AND subject_id = ANY($1)",
            &[&vec![alice_wallet, bob_wallet]],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(signed, 0);
    drop(gateway);
    db.drop_now().await;
}
