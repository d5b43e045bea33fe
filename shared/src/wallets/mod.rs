//! Custodial wallets: creating one per user, reading it, and signing with it.
//!
//! Guarantees:
//! - one wallet per user (a unique constraint), and concurrent first requests make one
//!   wallet: creation encrypts a new key outside any transaction, then inserts it unless the
//!   user has a wallet (a request that loses the race waits on the unique index, drops its
//!   key, never stored, and returns the winner's wallet);
//! - the private key is encrypted by KMS before the row is written; if KMS fails nothing is
//!   written and the caller gets 503;
//! - signing decrypts the key for that one call, checks it still derives the stored address,
//!   signs, and drops (zeroizes) it. The KMS call happens between two short transactions,
//!   never inside one, so no database connection waits on KMS; the audit entry is committed
//!   before the signature is returned, so no signature leaves without its record;
//! - responses and audit entries never carry key material or message text.

pub mod custody;
pub mod keys;
pub mod ledger;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use self::ledger::{Outcome, Reason};
use crate::platform::audit::{self, Entry};
use crate::platform::db::{Database, Tx, Type};
use crate::platform::error::ApiError;
use crate::platform::identity::Caller;
use crate::wallets::custody::{KEY_FORMAT, KeyCustody};
use crate::wallets::keys::WalletKey;

/// Longest message `sign` accepts, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4096;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Balance {
    pub amount: i64,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Wallet {
    pub id: Uuid,
    pub address: String,
    pub balance: Balance,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct Signed {
    pub address: String,
    /// `0x` + 130 hex digits: r ‖ s ‖ v.
    pub signature: String,
}

const FIND: &str = "SELECT id, address, balance_cents, currency, created_at FROM user_wallets WHERE user_id = $1";

fn wallet(r: &tokio_postgres::Row) -> Wallet {
    Wallet {
        id: r.get(0),
        address: r.get(1),
        balance: Balance { amount: r.get(2), currency: r.get::<_, String>(3).trim().to_owned() },
        created_at: r.get(4),
    }
}

/// The caller's wallet, if it has one.
pub async fn find(tx: &Tx, user_id: Uuid) -> Result<Option<Wallet>, ApiError> {
    Ok(tx.query_opt(FIND, &[(&user_id, Type::UUID)]).await?.as_ref().map(wallet))
}

/// The user's wallet, created (and credited `faucet_cents` when > 0) if it has none.
/// Returns whether it was created now.
///
/// KMS is called between two short transactions, never inside one. The first is one round
/// trip (`BEGIN`, the read and `COMMIT` pipelined): a user who has a wallet gets it back
/// without a KMS call, so asking again costs no KMS quota. Otherwise a new key is generated
/// and encrypted; the second inserts the wallet unless the user has one by now (`ON CONFLICT
/// (user_id) DO NOTHING`: a concurrent first request waits on the unique index until the
/// other commits, and its key, never stored, is dropped), then writes its faucet credit and
/// audit entry and reads the row back in one pipelined round trip, `COMMIT` behind them.
pub async fn create(
    db: &Database,
    caller: &Caller,
    custody: &KeyCustody,
    user_id: Uuid,
    faucet_cents: i64,
    request_id: &str,
) -> Result<(Wallet, bool), ApiError> {
    if let Some(existing) = db.one_shot(caller, FIND, &[(&user_id, Type::UUID)]).await?.first() {
        return Ok((wallet(existing), false));
    }
    let wallet_id = Uuid::now_v7();
    let key = WalletKey::generate();
    let address = key.address();
    let wrapped = custody.wrap(&*key.secret_bytes(), wallet_id, user_id).await.map_err(|e| {
        tracing::error!(error = %e, "wallet key could not be encrypted");
        ApiError::unavailable("key custody (KMS)")
    })?;
    drop(key);
    let tx = db.begin(caller).await?;
    let inserted = tx
        .execute(
            "INSERT INTO user_wallets (id, user_id, address, encrypted_private_key, kms_key_id, key_format) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO NOTHING",
            &[
                (&wallet_id, Type::UUID),
                (&user_id, Type::UUID),
                (&address, Type::TEXT),
                (&wrapped.ciphertext, Type::BYTEA),
                (&wrapped.kms_key_id, Type::TEXT),
                (&KEY_FORMAT, Type::INT2),
            ],
        )
        .await?;
    if inserted == 0 {
        let existing = tx.commit_with(find(&tx, user_id)).await?;
        tx.commit().await?;
        return Ok((existing.ok_or_else(ApiError::internal)?, false));
    }
    let credit = async {
        if faucet_cents > 0 {
            let (outcome, _) =
                ledger::post(&tx, wallet_id, faucet_cents, Reason::Faucet, &format!("faucet:{wallet_id}")).await?;
            debug_assert_eq!(outcome, Outcome::Applied);
        }
        Ok::<_, ApiError>(())
    };
    let entry = Entry {
        actor_user_id: Some(user_id),
        action: "wallet.created",
        subject_type: "wallet",
        subject_id: Some(wallet_id),
        request_id: Some(request_id),
        details: serde_json::json!({ "address": address, "kms_key_id": wrapped.kms_key_id, "key_format": KEY_FORMAT }),
    };
    // Sent in this order, so the row read back carries the credit; COMMIT travels behind them.
    let audited = async { audit::record(&tx, &entry).await.map_err(ApiError::from) };
    let ((), (), stored) = tx.commit_with(async { tokio::try_join!(credit, audited, find(&tx, user_id)) }).await?;
    tx.commit().await?;
    Ok((stored.ok_or_else(ApiError::internal)?, true))
}

/// EIP-191 signs `message` with `caller`'s wallet key. 404 without a wallet; 503 when KMS
/// cannot be reached; 500 when KMS refuses to decrypt (the ciphertext is not this wallet's).
///
/// Two one-statement transactions (one round trip each): one reads the wrapped key, the
/// other records the signing. KMS is called between them, so a KMS round trip (milliseconds,
/// or seconds when it is slow) never holds a database connection — behind RDS Proxy a
/// connection in a transaction cannot serve anyone else.
pub async fn sign(
    db: &Database,
    caller: &Caller,
    custody: &KeyCustody,
    user_id: Uuid,
    message: &str,
    request_id: &str,
) -> Result<Signed, ApiError> {
    let tx = db.begin_single(caller).await?;
    let row = tx
        .query_opt(
            "SELECT id, address, encrypted_private_key FROM user_wallets WHERE user_id = $1",
            &[(&user_id, Type::UUID)],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("this user has no wallet; create one with POST /v1/wallets"))?;
    tx.commit().await?;
    let (wallet_id, address, ciphertext): (Uuid, String, Vec<u8>) = (row.get(0), row.get(1), row.get(2));
    let secret = custody.unwrap(&ciphertext, wallet_id, user_id).await.map_err(|e| {
        if e.unreachable {
            tracing::error!(error = %e, %wallet_id, "KMS unreachable; wallet key not decrypted");
            ApiError::unavailable("key custody (KMS)")
        } else {
            // KMS answered and refused (a ciphertext that is not this wallet's, or a policy
            // that forbids it): retrying cannot help, and it may be tampering.
            tracing::error!(error = %e, %wallet_id, "KMS refused to decrypt a wallet key; possible tampering");
            ApiError::internal()
        }
    })?;
    let key = WalletKey::from_bytes(&secret).map_err(|e| ApiError::internal().with_source(e))?;
    drop(secret);
    if key.address() != address {
        tracing::error!(%wallet_id, "decrypted key does not derive the stored address");
        return Err(ApiError::internal());
    }
    let signature = format!("0x{}", hex::encode(key.sign_personal(message.as_bytes())));
    drop(key);
    let tx = db.begin_single(caller).await?;
    audit::record(
        &tx,
        &Entry {
            actor_user_id: Some(user_id),
            action: "wallet.message_signed",
            subject_type: "wallet",
            subject_id: Some(wallet_id),
            request_id: Some(request_id),
            details: serde_json::json!({
                "message_sha256": hex::encode(Sha256::digest(message.as_bytes())),
                "message_bytes": message.len(),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Signed { address, signature })
}
