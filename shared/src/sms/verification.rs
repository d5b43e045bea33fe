//! Phone verification through Twilio Verify: starting, checking, and storing the verified
//! phone.
//!
//! Guarantees: Twilio's refusals become problems a client can act on — its rate limits
//! (60203 max send attempts, 60212 too many concurrent requests, 20429) and too many check
//! attempts (60202) are 429; an invalid or unreachable number (60200, 60205, 60410, 21211,
//! 21614) is 422 naming `phone`; a verification that expired or never started (20404) is
//! 410 saying to start again; a wrong code is 422 naming `code`. Twilio unreachable is 503.
//! A user has at most one phone: a newly verified number replaces the old one.

use uuid::Uuid;

use super::phone::Phone;
use super::twilio::{Twilio, TwilioError};
use crate::platform::db::{Tx, Type};
use crate::platform::error::{ApiError, FieldError};

/// Sends a code to `phone`.
pub async fn start(twilio: &Twilio, phone: &Phone) -> Result<(), ApiError> {
    match twilio.start_verification(phone.e164()).await {
        Ok(_) => {
            tracing::info!(phone = %phone, "phone verification started");
            Ok(())
        }
        Err(e) => Err(problem(e, phone)),
    }
}

/// Checks `code` for `phone`; Ok once approved.
pub async fn check(twilio: &Twilio, phone: &Phone, code: &str) -> Result<(), ApiError> {
    let code = code.trim();
    if code.is_empty() || code.len() > 10 || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::validation(vec![FieldError::new(
            "code",
            "must be the 4–10 character code from the SMS",
        )]));
    }
    match twilio.check_verification(phone.e164(), code).await {
        Ok(v) if v.status == "approved" => Ok(()),
        Ok(v) if v.status == "expired" || v.status == "canceled" => Err(gone()),
        Ok(_) => Err(ApiError::validation(vec![FieldError::new("code", "is not the code we sent")])),
        Err(e) => Err(problem(e, phone)),
    }
}

/// Stores `phone` as `user_id`'s verified phone, replacing an older one (and clearing an
/// opt-out, since the person has just asked for this number). The transaction must carry
/// the user's RLS context. 409 when another user holds the number verified.
pub async fn store(tx: &Tx, user_id: Uuid, phone: &Phone) -> Result<(), ApiError> {
    let result = tx
        .execute(
            "INSERT INTO user_phones (user_id, phone_e164, verified_at) VALUES ($1, $2, now())
             ON CONFLICT (user_id) DO UPDATE
                SET phone_e164 = EXCLUDED.phone_e164, verified_at = now(), opted_out_at = NULL, updated_at = now()",
            &[(&user_id, Type::UUID), (&phone.e164(), Type::TEXT)],
        )
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.unique_violation().is_some() => {
            Err(ApiError::conflict("this number is verified on another account; remove it there first"))
        }
        Err(e) => Err(e.into()),
    }
}

fn gone() -> ApiError {
    ApiError::new(
        http::StatusCode::GONE,
        "verification-expired",
        "Verification expired",
        "this verification has expired or was never started; start again",
    )
}

fn too_many(detail: &str) -> ApiError {
    ApiError::new(http::StatusCode::TOO_MANY_REQUESTS, "rate-limited", "Too many requests", detail)
        .with_header(http::header::RETRY_AFTER, "600")
}

/// Maps a Twilio failure to the problem the caller sees.
fn problem(e: TwilioError, phone: &Phone) -> ApiError {
    match &e {
        TwilioError::Api { code, status, .. } => {
            tracing::info!(phone = %phone, twilio_code = code, twilio_status = status, "Twilio Verify refused");
            match code {
                60203 | 60212 | 20429 => too_many("too many verification codes were sent to this number; try later"),
                60202 => too_many("too many wrong codes; wait 10 minutes and start again"),
                60200 | 60205 | 60410 | 21211 | 21614 | 21408 => ApiError::validation(vec![FieldError::new(
                    "phone",
                    "cannot receive a verification SMS (invalid, landline or unsupported region)",
                )]),
                20404 => gone(),
                _ => ApiError::unavailable("SMS verification").with_source(e),
            }
        }
        TwilioError::Unavailable(_) => ApiError::unavailable("SMS verification").with_source(e),
    }
}
