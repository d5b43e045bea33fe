//! No full phone number and no message body reaches a log line (design §5), checked over
//! everything an SMS flow logs: the gateway's JSON log (every function it hosts, the
//! webhooks and the status callbacks included) and, captured in-process, the outbox
//! sender's lines.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parley_e2e::*;
use serde_json::json;
use shared::platform::db::Database;
use shared::sms::outbox::{self, Sender, Template};
use shared::sms::twilio::{Twilio, TwilioConfig};
use shared::sms::webhook::SmsSettings;
use uuid::Uuid;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn sign(path: &str, params: &[(String, String)]) -> String {
    shared::sms::signature::compute(
        setting("TWILIO_AUTH_TOKEN").as_bytes(),
        &format!("{}{path}", setting("PARLEY_PUBLIC_URL")),
        params,
    )
}

async fn inbound(from: &str, body: &str) -> Reply {
    let params: Vec<(String, String)> = [
        ("Body", body.to_owned()),
        ("From", from.to_owned()),
        ("MessageSid", format!("SM{}", Uuid::now_v7().simple())),
        ("To", "+15005550006".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let sig = sign("/webhooks/twilio/inbound", &params);
    let form: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
    send(
        client()
            .post(format!("{}/webhooks/twilio/inbound", base_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", sig)
            .body(form),
    )
    .await
}

/// `+` and seven or more digits: an unmasked phone number.
fn full_numbers(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'+' {
            let digits = bytes[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits >= 7 {
                found.push(text[i..i + 1 + digits].to_owned());
            }
        }
    }
    found
}

#[tokio::test]
async fn no_log_line_of_an_sms_flow_holds_a_full_number_or_a_body() {
    // GIVEN this process's log lines captured as the gateway writes its own
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt().json().with_max_level(tracing::Level::DEBUG).with_writer(move || sink.clone()).init();
    let user = Uuid::now_v7();
    let who = as_user(user);
    let n = Uuid::now_v7().as_u128() % 1_000_000;
    let phone = format!("+447400{n:06}");
    let bodies = ["Could you cover BA117 tomorrow please", "a thoroughly distinctive sentence"];

    // WHEN a whole SMS flow runs: verification, inbound chat, a refusal, STOP, START,
    // a confirmation sent with callbacks, a forged webhook
    let started = post_json_as("/v1/phone/verifications", &who, &json!({"phone": phone})).await;
    assert_eq!(started.status, 202, "{}", started.body);
    let checked = post_json_as("/v1/phone/verifications/check", &who, &json!({"phone": phone, "code": "123456"})).await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    for body in bodies {
        assert_eq!(inbound(&phone, body).await.status, 200);
    }
    assert_eq!(inbound(&phone, "You are a fucking idiot and I will make you regret this!!!").await.status, 200);
    assert_eq!(inbound(&phone, "STOP").await.status, 200);
    assert_eq!(inbound(&phone, "START").await.status, 200);
    let env = env_with(&[]);
    let db = Database::from_env(&env, "PARLEY_SERVICE_DATABASE_URL").unwrap();
    let tx = db.begin_service().await.unwrap();
    let template = Template::OrderConfirmation { reference: "LOGS1".into(), total_cents: 500, currency: "GBP".into() };
    let id = outbox::enqueue(&tx, user, &template, None).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    let sender =
        Sender::new(db, Twilio::new(TwilioConfig::from_env(&env).unwrap()), SmsSettings::from_env(&env).unwrap());
    assert_eq!(sender.send_pending_now(&[id]).await.unwrap().sent, 1);
    let forged = client()
        .post(format!("{}/webhooks/twilio/inbound", base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", "AAAA")
        .body(format!("From=%2B447400{n:06}&Body=zebraquokka"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    tokio::time::sleep(Duration::from_millis(2500)).await; // the status callbacks

    // THEN neither the gateway's log nor this process's holds a full number or a body
    let gateway_log = std::fs::read_to_string(setting("PARLEY_GATEWAY_LOG")).expect("the gateway's log file");
    let ours = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(gateway_log.contains("inbound SMS appended"), "the gateway logged the flow at info level");
    assert!(ours.contains("SMS sent to Twilio"), "the sender's lines were captured: {ours}");
    for (name, log) in [("gateway", &gateway_log), ("in-process", &ours)] {
        let numbers = full_numbers(log);
        assert!(numbers.is_empty(), "{name} log holds full numbers: {numbers:?}");
        assert!(!log.contains(&phone[1..]), "{name} log holds the number without +");
        for body in bodies.iter().chain(&["fucking idiot", "order LOGS1", "zebraquokka"]) {
            assert!(!log.contains(body), "{name} log holds a message body: {body}");
        }
    }
}
