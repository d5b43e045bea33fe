//! The outbound SMS outbox.
//!
//! Guarantees:
//! - [`enqueue`] only writes a `pending` row in the caller's transaction, so an SMS exists
//!   exactly when the effect that wanted it committed; sending is never part of it;
//! - [`Sender`] sends after commit ([`Sender::send_pending_now`]) and from the `send-sms`
//!   job ([`Sender::send_due`]); a row is claimed with a lease (attempts + 1, next attempt
//!   pushed out) under `FOR UPDATE SKIP LOCKED`, so two senders never send it at once;
//! - only to a verified, not opted-out phone; otherwise, or with sending switched off, the
//!   row ends `suppressed` and nothing is sent;
//! - Twilio unavailable → retried later with exponential backoff, at most
//!   `PARLEY_SMS_MAX_ATTEMPTS` times; Twilio's 21610 (recipient opted out) marks the phone
//!   opted out and ends the message `failed`; other Twilio refusals end it `failed_to_send`.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::phone;
use super::twilio::{Twilio, TwilioError};
use super::webhook::SmsSettings;
use crate::platform::db::{Database, DbError, ToSql, Tx, Type};

/// First retry after this long, doubling per attempt, capped at [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(60);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// How long a claimed row stays invisible to other senders while Twilio is called.
const LEASE: Duration = Duration::from_secs(120);

/// The messages Parley sends. Text is rendered when queued, so a retry sends the same words.
#[derive(Debug, Clone)]
pub enum Template {
    /// A paid order (payments issue): `reference` is the order's short id.
    OrderConfirmation {
        reference: String,
        total_cents: i64,
        currency: String,
    },
    PaymentFailed {
        reference: String,
    },
    /// Sent after a phone is verified.
    VerificationNotice,
}

impl Template {
    pub fn name(&self) -> &'static str {
        match self {
            Self::OrderConfirmation { .. } => "order_confirmation",
            Self::PaymentFailed { .. } => "payment_failed",
            Self::VerificationNotice => "verification_notice",
        }
    }

    pub fn render(&self) -> String {
        match self {
            Self::OrderConfirmation { reference, total_cents, currency } => format!(
                "Parley: order {reference} is confirmed ({currency} {}.{:02}). Reply HELP for help, STOP to opt out.",
                total_cents / 100,
                total_cents % 100
            ),
            Self::PaymentFailed { reference } => {
                format!("Parley: the payment for order {reference} did not go through. Open the app to try again.")
            }
            Self::VerificationNotice => {
                "Parley: this number is now verified. Reply HELP for help, STOP to opt out.".to_owned()
            }
        }
    }
}

/// Queues `template` for `user_id` in `tx`. With a `dedupe_key` (e.g.
/// `order:<id>:confirmation`) a repeated effect queues it once: `None` is returned the
/// second time. Call [`Sender::send_pending_now`] with the id after `tx` commits.
pub async fn enqueue(
    tx: &Tx,
    user_id: Uuid,
    template: &Template,
    dedupe_key: Option<&str>,
) -> Result<Option<Uuid>, DbError> {
    let id = Uuid::now_v7();
    let body = template.render();
    let row = tx
        .query_opt(
            "INSERT INTO sms_messages (id, user_id, template, body, dedupe_key) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            &[
                (&id, Type::UUID),
                (&user_id, Type::UUID),
                (&template.name(), Type::TEXT),
                (&body, Type::TEXT),
                (&dedupe_key, Type::TEXT),
            ],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// The pending rows queued under `dedupe_key` (so the effect that queued one can send it
/// right after its transaction commits).
pub async fn pending_with_key(db: &Database, dedupe_key: &str) -> Result<Vec<Uuid>, DbError> {
    let tx = db.begin_service_single().await?;
    let rows = tx
        .query("SELECT id FROM sms_messages WHERE dedupe_key = $1 AND status = 'pending'", &[(&dedupe_key, Type::TEXT)])
        .await?;
    tx.commit().await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// What a send pass did, by outcome.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub sent: u32,
    pub suppressed: u32,
    pub retrying: u32,
    pub failed: u32,
}

/// Sends outbox rows through Twilio, as the service role.
#[derive(Clone)]
pub struct Sender {
    db: Database,
    twilio: Twilio,
    settings: SmsSettings,
}

struct Claimed {
    id: Uuid,
    user_id: Uuid,
    body: String,
    attempts: i32,
    phone: Option<String>,
    opted_out: bool,
}

impl Sender {
    /// `db` must be the service role's pool (webhooks and jobs).
    pub fn new(db: Database, twilio: Twilio, settings: SmsSettings) -> Self {
        Self { db, twilio, settings }
    }

    /// Sends the rows `ids` now, if still pending and due — right after the transaction
    /// that queued them committed. Failures leave them to the `send-sms` job.
    pub async fn send_pending_now(&self, ids: &[Uuid]) -> Result<Report, DbError> {
        self.run(Some(ids), ids.len() as i64).await
    }

    /// Sends up to `batch` rows that are pending and due (the `send-sms` job).
    pub async fn send_due(&self, batch: i64) -> Result<Report, DbError> {
        self.run(None, batch).await
    }

    async fn run(&self, ids: Option<&[Uuid]>, batch: i64) -> Result<Report, DbError> {
        let mut report = Report::default();
        for msg in self.claim(ids, batch).await? {
            let outcome = self.send_one(&msg).await?;
            match outcome {
                Outcome::Sent => report.sent += 1,
                Outcome::Suppressed => report.suppressed += 1,
                Outcome::Retrying => report.retrying += 1,
                Outcome::Failed => report.failed += 1,
            }
        }
        Ok(report)
    }

    /// Leases due pending rows: attempts + 1 and the next attempt pushed past the lease,
    /// in one statement, skipping rows another sender holds.
    async fn claim(&self, ids: Option<&[Uuid]>, batch: i64) -> Result<Vec<Claimed>, DbError> {
        let tx = self.db.begin_service().await?;
        let lease = format!("{} seconds", LEASE.as_secs());
        let ids: Option<Vec<Uuid>> = ids.map(<[Uuid]>::to_vec);
        let rows = tx
            .query(
                "WITH due AS (
                     SELECT id FROM sms_messages
                     WHERE status = 'pending' AND next_attempt_at <= now()
                       AND ($1::uuid[] IS NULL OR id = ANY($1))
                     ORDER BY next_attempt_at LIMIT $2
                     FOR UPDATE SKIP LOCKED)
                 UPDATE sms_messages m
                    SET attempts = m.attempts + 1, next_attempt_at = now() + $3::interval
                   FROM due
                  WHERE m.id = due.id
                 RETURNING m.id, m.user_id, m.body, m.attempts",
                &[(&ids, Type::UUID_ARRAY), (&batch, Type::INT8), (&lease, Type::TEXT)],
            )
            .await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        // Every leased row's phone in one read, with COMMIT behind it: the lease decided
        // everything, the phones only say where each message goes.
        let users: Vec<Uuid> = rows.iter().map(|r| r.get(1)).collect();
        let phones = tx
            .commit_with(tx.query(
                "SELECT user_id, phone_e164, opted_out_at IS NOT NULL FROM user_phones WHERE user_id = ANY($1)",
                &[(&users, Type::UUID_ARRAY)],
            ))
            .await?;
        tx.commit().await?;
        let phones: HashMap<Uuid, (String, bool)> = phones.iter().map(|p| (p.get(0), (p.get(1), p.get(2)))).collect();
        Ok(rows
            .iter()
            .map(|r| {
                let user_id: Uuid = r.get(1);
                let phone = phones.get(&user_id);
                Claimed {
                    id: r.get(0),
                    user_id,
                    body: r.get(2),
                    attempts: r.get(3),
                    phone: phone.map(|(e164, _)| e164.clone()),
                    opted_out: phone.is_some_and(|&(_, out)| out),
                }
            })
            .collect())
    }

    async fn send_one(&self, msg: &Claimed) -> Result<Outcome, DbError> {
        let reason = if !self.settings.sending {
            Some("sending_disabled")
        } else if msg.phone.is_none() {
            Some("unverified")
        } else if msg.opted_out {
            Some("opted_out")
        } else {
            None
        };
        if let Some(reason) = reason {
            self.finish(msg.id, "suppressed", Some(reason), None, None).await?;
            tracing::info!(sms_id = %msg.id, reason, "SMS suppressed");
            return Ok(Outcome::Suppressed);
        }
        let to = msg.phone.as_deref().unwrap_or_default();
        let masked = phone::mask(to);
        match self.twilio.send_message(to, &msg.body, &self.settings.status_callback_url()).await {
            Ok(sent) => {
                let status = super::status::normalise(&sent.status).unwrap_or("queued");
                self.finish(msg.id, status, None, None, Some(&sent.sid)).await?;
                tracing::info!(sms_id = %msg.id, sid = %sent.sid, to = %masked, "SMS sent to Twilio");
                Ok(Outcome::Sent)
            }
            Err(TwilioError::Api { code: 21610, .. }) => {
                let tx = self.db.begin_service().await?;
                let by_user: [(&(dyn ToSql + Sync), Type); 1] = [(&msg.user_id, Type::UUID)];
                // Both writes and COMMIT in one round trip.
                tx.commit_with(async {
                    tokio::try_join!(
                        tx.execute(
                            "UPDATE user_phones SET opted_out_at = now(), updated_at = now()
                             WHERE user_id = $1 AND opted_out_at IS NULL",
                            &by_user,
                        ),
                        finish_in(&tx, msg.id, "failed", Some("opted_out"), Some(21610), None),
                    )
                })
                .await?;
                tx.commit().await?;
                tracing::warn!(sms_id = %msg.id, to = %masked, "Twilio 21610: recipient opted out; phone marked");
                Ok(Outcome::Failed)
            }
            Err(TwilioError::Api { status, code, .. }) if status != 429 && status < 500 => {
                let code = i32::try_from(code).ok();
                self.finish(msg.id, "failed_to_send", Some("twilio_refused"), code, None).await?;
                tracing::warn!(sms_id = %msg.id, to = %masked, code, "Twilio refused the SMS");
                Ok(Outcome::Failed)
            }
            Err(e) => {
                if msg.attempts >= self.settings.max_attempts {
                    self.finish(msg.id, "failed_to_send", Some("max_attempts"), e.code().map(|c| c as i32), None)
                        .await?;
                    tracing::error!(sms_id = %msg.id, attempts = msg.attempts, error = %e, "SMS given up");
                    return Ok(Outcome::Failed);
                }
                let next = next_attempt(Utc::now(), msg.attempts);
                let tx = self.db.begin_service_single().await?;
                tx.execute(
                    "UPDATE sms_messages SET next_attempt_at = $2 WHERE id = $1 AND status = 'pending'",
                    &[(&msg.id, Type::UUID), (&next, Type::TIMESTAMPTZ)],
                )
                .await?;
                tx.commit().await?;
                tracing::warn!(sms_id = %msg.id, attempts = msg.attempts, error = %e, "SMS send failed; will retry");
                Ok(Outcome::Retrying)
            }
        }
    }

    async fn finish(
        &self,
        id: Uuid,
        status: &str,
        reason: Option<&str>,
        code: Option<i32>,
        sid: Option<&str>,
    ) -> Result<(), DbError> {
        let tx = self.db.begin_service_single().await?;
        finish_in(&tx, id, status, reason, code, sid).await?;
        tx.commit().await
    }
}

async fn finish_in(
    tx: &Tx,
    id: Uuid,
    status: &str,
    reason: Option<&str>,
    code: Option<i32>,
    sid: Option<&str>,
) -> Result<(), DbError> {
    // A callback may already have moved a sent row past `queued`; keep the higher status.
    tx.execute(
        "UPDATE sms_messages
            SET status = CASE WHEN sms_status_rank($2) > sms_status_rank(status) THEN $2 ELSE status END,
                reason = $3, error_code = COALESCE($4, error_code), twilio_sid = COALESCE($5, twilio_sid)
          WHERE id = $1 AND status = 'pending'",
        &[(&id, Type::UUID), (&status, Type::TEXT), (&reason, Type::TEXT), (&code, Type::INT4), (&sid, Type::TEXT)],
    )
    .await?;
    Ok(())
}

enum Outcome {
    Sent,
    Suppressed,
    Retrying,
    Failed,
}

/// When to try again after `attempts` failures: 1 min, 2, 4 … capped at an hour.
pub fn next_attempt(now: DateTime<Utc>, attempts: i32) -> DateTime<Utc> {
    let factor = 1u32 << attempts.clamp(1, 16).saturating_sub(1) as u32;
    let wait = FIRST_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF);
    now + chrono::Duration::from_std(wait).unwrap_or_else(|_| chrono::Duration::hours(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_minute_and_stops_at_an_hour() {
        let now = Utc::now();
        assert_eq!(next_attempt(now, 1) - now, chrono::Duration::minutes(1));
        assert_eq!(next_attempt(now, 3) - now, chrono::Duration::minutes(4));
        assert_eq!(next_attempt(now, 12) - now, chrono::Duration::hours(1));
    }

    #[test]
    fn an_order_confirmation_names_the_order_and_total() {
        let t = Template::OrderConfirmation { reference: "A1B2".into(), total_cents: 1781, currency: "USD".into() };
        assert_eq!(t.name(), "order_confirmation");
        assert!(t.render().contains("order A1B2 is confirmed (USD 17.81)"));
    }
}
