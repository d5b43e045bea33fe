//! Wallet balances as a double-entry ledger (`wallet_ledger`), moved only through the
//! database function `ledger_post` (migrations/V4).
//!
//! Guarantees: every posting is two entries that sum to zero (the wallet and a system
//! account named after the reason); a posting is idempotent by its reference; a balance
//! never goes below zero, even under concurrent debits (the wallet row is locked); the
//! wallet's `balance_cents` is the ledger's sum, kept in step in the same transaction.

use uuid::Uuid;

use crate::platform::db::{DbError, Tx, Type};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// This reference was posted before; nothing changed.
    Duplicate,
    /// A debit larger than the balance; nothing changed.
    InsufficientFunds,
}

/// Why money moves. Each reason has its own system account (`system:<reason>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Test money for new wallets outside production.
    Faucet,
    Purchase,
    Refund,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Faucet => "faucet",
            Reason::Purchase => "purchase",
            Reason::Refund => "refund",
        }
    }
}

/// Credits (`amount_cents > 0`) or debits (`< 0`) a wallet. Returns the outcome and the
/// balance after it.
pub async fn post(
    tx: &Tx,
    wallet_id: Uuid,
    amount_cents: i64,
    reason: Reason,
    reference: &str,
) -> Result<(Outcome, i64), DbError> {
    let reason = reason.as_str();
    let row = tx
        .query_one(
            "SELECT outcome, balance_cents FROM ledger_post($1, $2, $3, $4)",
            &[(&wallet_id, Type::UUID), (&amount_cents, Type::INT8), (&reason, Type::TEXT), (&reference, Type::TEXT)],
        )
        .await?;
    let outcome = match row.get::<_, &str>(0) {
        "applied" => Outcome::Applied,
        "duplicate" => Outcome::Duplicate,
        _ => Outcome::InsufficientFunds,
    };
    Ok((outcome, row.get(1)))
}
