//! Delivery status from Twilio's status callbacks.
//!
//! Guarantees: a status only moves forward — `queued < sending < sent < delivered < read`,
//! with `undelivered` and `failed` final — so callbacks arriving in any order end at the
//! right status. The rule is checked in the `UPDATE` and enforced again by the database
//! trigger `sms_messages_forward_only` (migration V9).

use crate::platform::db::{DbError, Tx, Type};

/// Twilio message statuses Parley records, mapped to the names stored.
pub fn normalise(status: &str) -> Option<&'static str> {
    Some(match status {
        "accepted" | "scheduled" | "queued" => "queued",
        "sending" => "sending",
        "sent" => "sent",
        "delivered" => "delivered",
        "read" => "read",
        "undelivered" => "undelivered",
        "failed" | "canceled" => "failed",
        _ => return None,
    })
}

/// The rank a status has; a callback may only raise it (mirrors `sms_status_rank` in SQL).
pub fn rank(status: &str) -> u8 {
    match status {
        "pending" => 0,
        "queued" => 10,
        "sending" => 20,
        "sent" => 30,
        "delivered" => 40,
        "read" => 50,
        _ => 100,
    }
}

/// What applying a callback did.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Advanced,
    /// The stored status is already at or past this one.
    Stale,
    UnknownSid,
}

/// Applies `status` (normalised) and Twilio's `error_code` to the message `sid`.
pub async fn apply(tx: &Tx, sid: &str, status: &str, error_code: Option<i32>) -> Result<Applied, DbError> {
    let row = tx
        .query_opt(
            "WITH found AS (SELECT id FROM sms_messages WHERE twilio_sid = $1),
                  moved AS (
                      UPDATE sms_messages SET status = $2, error_code = COALESCE($3, error_code)
                      WHERE twilio_sid = $1
                        AND sms_status_rank(status) < 100
                        AND sms_status_rank($2) > sms_status_rank(status)
                      RETURNING id)
             SELECT (SELECT count(*) FROM found), (SELECT count(*) FROM moved)",
            &[(&sid, Type::TEXT), (&status, Type::TEXT), (&error_code, Type::INT4)],
        )
        .await?;
    let (found, moved): (i64, i64) = row.map(|r| (r.get(0), r.get(1))).unwrap_or((0, 0));
    Ok(match (found, moved) {
        (0, _) => Applied::UnknownSid,
        (_, 0) => Applied::Stale,
        _ => Applied::Advanced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_rank_in_delivery_order_and_failures_are_final() {
        let order = ["pending", "queued", "sending", "sent", "delivered", "read"];
        for pair in order.windows(2) {
            assert!(rank(pair[0]) < rank(pair[1]), "{pair:?}");
        }
        assert!(rank("undelivered") > rank("read"));
        assert_eq!(rank("failed"), rank("undelivered"));
    }

    #[test]
    fn twilio_statuses_map_to_stored_ones() {
        assert_eq!(normalise("accepted"), Some("queued"));
        assert_eq!(normalise("canceled"), Some("failed"));
        assert_eq!(normalise("receiving"), None);
    }
}
