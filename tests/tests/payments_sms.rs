//! A paid order's confirmation SMS: queued with the fulfilment, sent right after commit, and
//! — when Twilio is down — sent later by `send-sms`, once, while the payment completes anyway.

use parley_e2e::payments::*;
use parley_e2e::*;
use serde_json::json;
use uuid::Uuid;

/// The local Twilio's verification code (tools/local/src/twilio_stub.rs).
const KNOWN_CODE: &str = "123456";

/// A valid UK mobile number no other test uses.
fn fresh_phone() -> String {
    let n = Uuid::now_v7().as_u128() % 1_000_000;
    format!("+447401{n:06}")
}

async fn verify(user: Uuid, phone: &str) {
    let who = as_user(user);
    post_json_as("/v1/phone/verifications", &who, &json!({"phone": phone})).await.assert_status(202);
    post_json_as("/v1/phone/verifications/check", &who, &json!({"phone": phone, "code": KNOWN_CODE}))
        .await
        .assert_status(200);
}

/// What the local Twilio sent whose body mentions `needle`.
async fn stub_messages_mentioning(needle: &str) -> usize {
    let url = format!("{}/_stub/messages", setting("TWILIO_API_BASE_URL"));
    let all: serde_json::Value = client().get(url).send().await.unwrap().json().await.unwrap();
    all.as_array().unwrap().iter().filter(|m| m["body"].as_str().unwrap_or_default().contains(needle)).count()
}

/// The status of the order's confirmation in the outbox.
async fn confirmation_status(order: &str) -> Option<String> {
    superuser()
        .await
        .query_opt("SELECT status FROM sms_messages WHERE dedupe_key = $1", &[&format!("order:{order}:confirmation")])
        .await
        .unwrap()
        .map(|r| r.get(0))
}

/// A verified user pays a card checkout; the stub's signed events go to `gateway`.
async fn pay_by_card(gateway: &str) -> (String, String) {
    let (user, _, _) = user_with_cart().await;
    verify(user, &fresh_phone()).await;
    let started = checkout(user, "card").await;
    started.assert_status(201);
    let order = started.body["order_id"].as_str().unwrap().to_owned();
    for event in stub_pay(&session_of(&order).await).await {
        let body = event.to_string();
        let signature = stripe_signature(&body, &webhook_secret(), now());
        let delivered = send(
            client()
                .post(format!("{gateway}/webhooks/stripe"))
                .header("content-type", "application/json")
                .header("stripe-signature", signature)
                .body(body),
        )
        .await;
        assert_eq!(delivered.status, 200, "{}", delivered.body);
    }
    let reference = shared::payments::events::order_reference(order.parse().unwrap());
    (order, reference)
}

#[tokio::test]
async fn a_paid_order_queues_its_confirmation_and_sends_it_right_after_commit() {
    // GIVEN a verified user WHEN their card payment completes
    let (order, reference) = pay_by_card(&base_url()).await;
    // THEN the order is paid and Twilio got the confirmation once, naming the order
    assert_eq!(order_status(&order).await, "PAID");
    assert_eq!(stub_messages_mentioning(&reference).await, 1);
    assert_ne!(confirmation_status(&order).await.as_deref(), Some("pending"));
}

#[tokio::test]
async fn with_twilio_down_the_payment_completes_and_send_sms_sends_the_confirmation_later_once() {
    // GIVEN the Stripe webhook served by a gateway whose Twilio is unreachable
    let down = format!("http://127.0.0.1:{}", closed_port());
    let gateway = Gateway::start(&[("TWILIO_API_BASE_URL", &down)]);
    // WHEN a verified user's card payment completes
    let (order, reference) = pay_by_card(&gateway.url).await;
    // THEN the payment is complete and the confirmation waits in the outbox, unsent
    assert_eq!(order_status(&order).await, "PAID");
    assert_eq!(confirmation_status(&order).await.as_deref(), Some("pending"));
    assert_eq!(stub_messages_mentioning(&reference).await, 0);
    // WHEN its backoff has passed and send-sms runs, twice
    superuser()
        .await
        .execute(
            "UPDATE sms_messages SET next_attempt_at = now() WHERE dedupe_key = $1",
            &[&format!("order:{order}:confirmation")],
        )
        .await
        .unwrap();
    for _ in 0..2 {
        parley_local::registry::invoke("send-sms", json!({})).await.unwrap();
    }
    // THEN Twilio got it exactly once
    assert_eq!(stub_messages_mentioning(&reference).await, 1);
}
