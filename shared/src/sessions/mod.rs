//! Anonymous sessions and their claim by a signed-in user.
//!
//! Guarantees: a claim moves everything the anonymous session owns — conversations, quotes,
//! cart items — to the user in the request's single transaction (all or nothing), under a
//! row lock on the session, so two
//! concurrent claims cannot both win; claiming again by the same user changes nothing and
//! succeeds; a session already claimed by someone else is a 409. An anonymous cart item for
//! a flight and product the user already has in the cart is merged: the user's item stays,
//! the anonymous one is marked REMOVED.

use serde::Serialize;
use uuid::Uuid;

use crate::platform::db::{ToSql, Tx, Type};
use crate::platform::error::ApiError;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Claim {
    pub session_id: Uuid,
    pub user_id: Uuid,
    /// False when this user had already claimed the session (nothing moved this time).
    pub newly_claimed: bool,
    pub conversations_moved: u64,
    pub quotes_moved: u64,
    pub cart_items_moved: u64,
    /// Anonymous cart items dropped because the user already had the same cover.
    pub cart_items_merged: u64,
}

/// Moves what `session_id` owns to `user_id`. The transaction must carry both ids as its
/// RLS context (the caller presented both credentials). A claim that moves anything ends the
/// transaction: its moves carry `COMMIT` ([`Tx::commit_with`]); the caller's `commit` after
/// it only reports how that went.
pub async fn claim(tx: &Tx, session_id: Uuid, user_id: Uuid) -> Result<Claim, ApiError> {
    // The lock and the session's own update happen in claim_anonymous_session
    // (migrations/V5): the API role has no UPDATE on anonymous_sessions of its own.
    let outcome: String =
        tx.query_one("SELECT claim_anonymous_session($1)", &[(&session_id, Type::UUID)]).await?.get(0);
    match outcome.as_str() {
        "claimed" => {}
        "already_yours" => {
            return Ok(Claim {
                session_id,
                user_id,
                newly_claimed: false,
                conversations_moved: 0,
                quotes_moved: 0,
                cart_items_moved: 0,
                cart_items_merged: 0,
            });
        }
        "taken" => return Err(ApiError::conflict("this anonymous session was already claimed by another user")),
        _ => return Err(ApiError::not_found("no such anonymous session (it may have expired)")),
    }
    let ids = [(&session_id as &(dyn ToSql + Sync), Type::UUID), (&user_id, Type::UUID)];
    // Pipelined, and executed in this order: merge duplicates before moving the rest; COMMIT
    // travels behind them (nothing in their answers can fail the claim).
    let (conversations_moved, cart_items_merged, quotes_moved, cart_items_moved) = tx
        .commit_with(async {
            tokio::try_join!(
                tx.execute(
                    "UPDATE conversations SET owner_user_id = $2 \
                     WHERE owner_anonymous_session_id = $1 AND owner_user_id IS NULL",
                    &ids,
                ),
                tx.execute(
                    "UPDATE quote_cart_items a SET status = 'REMOVED' FROM quotes qa \
                     WHERE qa.id = a.quote_id \
                       AND a.owner_anonymous_session_id = $1 AND a.owner_user_id IS NULL \
                       AND a.status = 'ACTIVE' AND EXISTS ( \
                         SELECT 1 FROM quote_cart_items u JOIN quotes qu ON qu.id = u.quote_id \
                         WHERE u.owner_user_id = $2 AND u.status = 'ACTIVE' \
                           AND qu.product_id = qa.product_id AND qu.flight_number = qa.flight_number \
                           AND qu.departure_date = qa.departure_date)",
                    &ids,
                ),
                tx.execute(
                    "UPDATE quotes SET owner_user_id = $2 \
                     WHERE owner_anonymous_session_id = $1 AND owner_user_id IS NULL",
                    &ids,
                ),
                tx.execute(
                    "UPDATE quote_cart_items SET owner_user_id = $2 \
                     WHERE owner_anonymous_session_id = $1 AND owner_user_id IS NULL",
                    &ids,
                ),
            )
        })
        .await?;
    Ok(Claim {
        session_id,
        user_id,
        newly_claimed: true,
        conversations_moved,
        quotes_moved,
        cart_items_moved,
        cart_items_merged,
    })
}
