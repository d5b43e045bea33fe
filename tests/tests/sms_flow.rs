//! SMS end to end (issue 11): phone verification against the local Twilio, inbound SMS
//! signed with Twilio's scheme through the local gateway, opt-out, the outbox sender and
//! the `send-sms` job, delivery status callbacks, and the webhooks' signature checks.

use std::time::Duration;

use parley_e2e::*;
use serde_json::json;
use shared::platform::db::Database;
use shared::sms::outbox::{self, Sender, Template};
use shared::sms::twilio::{Twilio, TwilioConfig};
use shared::sms::webhook::SmsSettings;
use uuid::Uuid;

const KNOWN_CODE: &str = "123456";
const INBOUND: &str = "/webhooks/twilio/inbound";
const STATUS: &str = "/webhooks/twilio/status";

/// A valid UK mobile number no other test uses.
fn fresh_phone() -> String {
    let n = Uuid::now_v7().as_u128() % 1_000_000;
    format!("+447400{n:06}")
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn inbound_params(from: &str, body: &str, sid: &str) -> Vec<(String, String)> {
    params(&[
        ("AccountSid", &setting("TWILIO_ACCOUNT_SID")),
        ("Body", body),
        ("From", from),
        ("MessageSid", sid),
        ("NumMedia", "0"),
        ("To", "+15005550006"),
    ])
}

/// Twilio's signature for a POST to `path` under the stack's public URL.
fn twilio_signature(path: &str, params: &[(String, String)]) -> String {
    shared::sms::signature::compute(
        setting("TWILIO_AUTH_TOKEN").as_bytes(),
        &format!("{}{path}", setting("PARLEY_PUBLIC_URL")),
        params,
    )
}

/// POSTs a form to the gateway with `signature` (or none).
async fn post_form(path: &str, params: &[(String, String)], signature: Option<&str>) -> Reply {
    let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    let mut req = client()
        .post(format!("{}{path}", base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(sig) = signature {
        req = req.header("x-twilio-signature", sig);
    }
    send(req).await
}

/// A signed inbound SMS, as Twilio would post it.
async fn inbound(from: &str, body: &str, sid: &str) -> Reply {
    let p = inbound_params(from, body, sid);
    let sig = twilio_signature(INBOUND, &p);
    post_form(INBOUND, &p, Some(&sig)).await
}

fn twiml(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.header("content-type").starts_with("text/xml"), "{:?}", reply.headers);
    reply.body.as_str().expect("a TwiML text body").to_owned()
}

fn new_sid() -> String {
    format!("SM{}", Uuid::now_v7().simple())
}

/// Verifies `phone` for `user` through the API and the stub's known code.
async fn verify(user: Uuid, phone: &str) {
    let who = as_user(user);
    let started = post_json_as("/v1/phone/verifications", &who, &json!({"phone": phone})).await;
    assert_eq!(started.status, 202, "{}", started.body);
    let checked =
        post_json_as("/v1/phone/verifications/check", &who, &json!({"phone": phone, "code": KNOWN_CODE})).await;
    assert_eq!(checked.status, 200, "{}", checked.body);
}

async fn service_db() -> tokio_postgres::Client {
    connect(&setting("PARLEY_SERVICE_DATABASE_URL")).await
}

async fn conversations_of(user: Uuid) -> Vec<Uuid> {
    service_db()
        .await
        .query("SELECT id FROM conversations WHERE owner_user_id = $1 ORDER BY created_at", &[&user])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn sender_with(overrides: &[(&str, &str)]) -> Sender {
    let env = env_with(overrides);
    let db = Database::from_env(&env, "PARLEY_SERVICE_DATABASE_URL").unwrap();
    Sender::new(db, Twilio::new(TwilioConfig::from_env(&env).unwrap()), SmsSettings::from_env(&env).unwrap())
}

/// Queues an order-like confirmation for `user` in its own transaction, as the payment
/// webhook will; returns the row id and the order reference in its text.
async fn queue_confirmation(user: Uuid) -> (Uuid, String) {
    let db = Database::from_env(&env_with(&[]), "PARLEY_SERVICE_DATABASE_URL").unwrap();
    let reference = format!("T{}", &Uuid::now_v7().simple().to_string()[20..]);
    let tx = db.begin_service().await.unwrap();
    let template =
        Template::OrderConfirmation { reference: reference.clone(), total_cents: 1781, currency: "USD".into() };
    let id = outbox::enqueue(&tx, user, &template, Some(&format!("order:{reference}:confirmation")))
        .await
        .unwrap()
        .expect("first enqueue");
    tx.commit().await.unwrap();
    (id, reference)
}

async fn status_of(id: Uuid) -> (String, Option<i32>, i32) {
    let row = service_db()
        .await
        .query_one("SELECT status, error_code, attempts FROM sms_messages WHERE id = $1", &[&id])
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

/// Waits until the message reaches `want` (callbacks start after 1 s, then every 300 ms), then a little
/// longer, and returns the status it ends at.
async fn settled_status(id: Uuid, want: &str) -> (String, Option<i32>) {
    for _ in 0..100 {
        if status_of(id).await.0 == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (s, code, _) = status_of(id).await;
    (s, code)
}

/// The recipients of what the local Twilio sent whose body mentions `needle`.
async fn stub_recipients_of(needle: &str) -> Vec<String> {
    let url = format!("{}/_stub/messages", setting("TWILIO_API_BASE_URL"));
    let all: serde_json::Value = client().get(url).send().await.unwrap().json().await.unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .filter(|m| m["body"].as_str().unwrap_or_default().contains(needle))
        .map(|m| m["to"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// How many messages the local Twilio sent whose body mentions `needle`.
async fn stub_messages_mentioning(needle: &str) -> usize {
    stub_recipients_of(needle).await.len()
}

#[tokio::test]
async fn a_phone_is_verified_with_the_code_twilio_sent() {
    // GIVEN a user and a number typed nationally
    let user = Uuid::now_v7();
    let who = as_user(user);
    let phone = fresh_phone();
    let national = format!("0{}", &phone[3..]);
    // WHEN verification starts THEN 202
    let started = post_json_as("/v1/phone/verifications", &who, &json!({"phone": national})).await;
    assert_eq!(started.status, 202, "{}", started.body);
    // WHEN a wrong code is checked THEN 422 naming the code
    let wrong = post_json_as("/v1/phone/verifications/check", &who, &json!({"phone": phone, "code": "000000"})).await;
    wrong.assert_problem(422);
    assert_eq!(wrong.body["errors"][0]["field"], "code");
    // WHEN the right code is checked THEN 200 with the number masked, and it is stored verified
    let ok = post_json_as("/v1/phone/verifications/check", &who, &json!({"phone": phone, "code": KNOWN_CODE})).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["phone"], format!("+44******{}", &phone[phone.len() - 4..]));
    let row = service_db()
        .await
        .query_one("SELECT phone_e164, verified_at IS NOT NULL FROM user_phones WHERE user_id = $1", &[&user])
        .await
        .unwrap();
    assert_eq!((row.get::<_, String>(0), row.get::<_, bool>(1)), (phone.clone(), true));
    // AND a newer verified number replaces it
    let newer = fresh_phone();
    verify(user, &newer).await;
    let numbers: Vec<String> = service_db()
        .await
        .query("SELECT phone_e164 FROM user_phones WHERE user_id = $1", &[&user])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(numbers, vec![newer]);
}

#[tokio::test]
async fn verification_refusals_are_problems_a_client_can_act_on() {
    let who = as_user(Uuid::now_v7());
    // An invalid number → 422 naming phone
    let invalid = post_json_as("/v1/phone/verifications", &who, &json!({"phone": "12"})).await;
    invalid.assert_problem(422);
    assert_eq!(invalid.body["errors"][0]["field"], "phone");
    // A number Twilio cannot reach (60200) → 422; Twilio's send limit (60203) → 429
    let unreachable = post_json_as("/v1/phone/verifications", &who, &json!({"phone": "+15005550001"})).await;
    unreachable.assert_problem(422);
    let limited = post_json_as("/v1/phone/verifications", &who, &json!({"phone": "+15005550007"})).await;
    limited.assert_problem(429);
    assert!(!limited.header("retry-after").is_empty());
    // A check without a started verification → 410 saying to start again
    let gone =
        post_json_as("/v1/phone/verifications/check", &who, &json!({"phone": fresh_phone(), "code": "123456"})).await;
    gone.assert_problem(410);
    assert!(gone.body["detail"].as_str().unwrap().contains("start again"));
    // An anonymous visitor cannot verify a phone
    let (_, anon) = anonymous_session().await;
    post_json_as("/v1/phone/verifications", &as_anonymous(&anon), &json!({"phone": fresh_phone()}))
        .await
        .assert_problem(401);
}

#[tokio::test]
async fn too_many_wrong_codes_are_a_429() {
    let who = as_user(Uuid::now_v7());
    let phone = fresh_phone();
    assert_eq!(post_json_as("/v1/phone/verifications", &who, &json!({"phone": phone})).await.status, 202);
    let mut last = None;
    for _ in 0..5 {
        last =
            Some(post_json_as("/v1/phone/verifications/check", &who, &json!({"phone": phone, "code": "999999"})).await);
    }
    last.unwrap().assert_problem(429);
}

#[tokio::test]
async fn a_sixth_start_within_the_hour_is_refused_with_retry_after() {
    // GIVEN a user who started five verifications (different numbers)
    let who = as_user(Uuid::now_v7());
    for _ in 0..5 {
        let r = post_json_as("/v1/phone/verifications", &who, &json!({"phone": fresh_phone()})).await;
        assert_eq!(r.status, 202, "{}", r.body);
    }
    // WHEN a sixth starts THEN 429 with Retry-After
    let sixth = post_json_as("/v1/phone/verifications", &who, &json!({"phone": fresh_phone()})).await;
    sixth.assert_problem(429);
    assert!(sixth.header("retry-after").parse::<u64>().unwrap() > 0);
}

#[tokio::test]
async fn an_inbound_sms_is_a_chat_message_answered_in_twiml() {
    // GIVEN a user with a verified phone
    let user = Uuid::now_v7();
    let phone = fresh_phone();
    verify(user, &phone).await;
    // WHEN they text a flight
    let answer = twiml(&inbound(&phone, "BA117 tomorrow", &new_sid()).await);
    // THEN the TwiML carries the assistant's answer with the quotes as text
    assert!(answer.starts_with("<?xml"), "{answer}");
    assert!(answer.contains("<Message>Here is delay cover for BA117"), "{answer}");
    // AND the message and answer are in a new conversation with a valid chain
    let convs = conversations_of(user).await;
    assert_eq!(convs.len(), 1);
    let who = as_user(user);
    let history = get_as(&format!("/v1/chat/conversations/{}/messages", convs[0]), &who).await;
    assert_eq!(history.status, 200, "{}", history.body);
    let items = history.body["messages"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2, "{}", history.body);
    assert_eq!(items[0]["content"], "BA117 tomorrow");
    assert_eq!(items[1]["role"], "assistant");
    let verified = get_as(&format!("/v1/chat/conversations/{}/verification", convs[0]), &who).await;
    assert_eq!(verified.body["valid"], true, "{}", verified.body);
    // AND a second SMS goes to the same (most recent) conversation
    let _ = twiml(&inbound(&phone, "hello again", &new_sid()).await);
    assert_eq!(conversations_of(user).await, convs);
}

#[tokio::test]
async fn a_hostile_inbound_sms_is_refused_with_a_rewrite_and_nothing_is_stored() {
    let user = Uuid::now_v7();
    let phone = fresh_phone();
    verify(user, &phone).await;
    // WHEN a hostile SMS arrives
    let answer =
        twiml(&inbound(&phone, "You are a fucking idiot and I will make you regret this!!!", &new_sid()).await);
    // THEN the answer is the refusal with a neutral rewrite, and no conversation exists
    assert!(answer.contains("<Message>Parley: your message was not sent"), "{answer}");
    assert!(!answer.contains("idiot"), "{answer}");
    assert!(conversations_of(user).await.is_empty());
}

#[tokio::test]
async fn the_same_message_sid_twice_is_stored_once() {
    let user = Uuid::now_v7();
    let phone = fresh_phone();
    verify(user, &phone).await;
    let sid = new_sid();
    // WHEN Twilio retries the same inbound webhook
    let first = twiml(&inbound(&phone, "Is my flight covered?", &sid).await);
    let second = twiml(&inbound(&phone, "Is my flight covered?", &sid).await);
    // THEN one message and one answer are stored; the retry gets an empty response
    assert!(first.contains("<Message>"));
    assert!(second.ends_with("<Response/>"), "{second}");
    let convs = conversations_of(user).await;
    let count: i32 = service_db()
        .await
        .query_one("SELECT message_count FROM conversations WHERE id = $1", &[&convs[0]])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 2);
}

#[tokio::test]
async fn a_sender_who_is_no_users_phone_gets_empty_twiml_and_nothing_is_stored() {
    let stranger = fresh_phone();
    let answer = twiml(&inbound(&stranger, "hello?", &new_sid()).await);
    assert!(answer.ends_with("<Response/>"), "{answer}");
    let stored: i64 = service_db()
        .await
        .query_one("SELECT count(*) FROM user_phones WHERE phone_e164 = $1", &[&stranger])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn with_the_database_down_an_inbound_sms_is_a_503_in_twiml_and_nothing_is_stored() {
    // GIVEN a user with a verified phone, and a gateway whose service database is unreachable
    let user = Uuid::now_v7();
    let phone = fresh_phone();
    verify(user, &phone).await;
    let down = format!("postgres://parley_service:x@127.0.0.1:{}/parley?connect_timeout=1", closed_port());
    let gateway = Gateway::start(&[("PARLEY_SERVICE_DATABASE_URL", &down)]);
    for body in ["BA117 tomorrow", "STOP"] {
        // WHEN Twilio posts a signed inbound SMS (a chat message, then a keyword)
        let p = inbound_params(&phone, body, &new_sid());
        let sig = twilio_signature(INBOUND, &p);
        let form: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&p).finish();
        let reply = send(
            client()
                .post(format!("{}{INBOUND}", gateway.url))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-twilio-signature", sig)
                .body(form),
        )
        .await;
        // THEN the answer is a 503 Twilio can read — TwiML, with Retry-After — not a problem document
        assert_eq!(reply.status, 503, "{body}: {}", reply.body);
        assert!(reply.header("content-type").starts_with("text/xml"), "{body}: {:?}", reply.headers);
        assert!(!reply.header("retry-after").is_empty(), "{body}: {:?}", reply.headers);
        assert_eq!(reply.body.as_str(), Some(shared::sms::inbound::twiml(None).as_str()), "{body}");
    }
    // AND nothing was stored: no conversation, and the phone is not opted out
    assert!(conversations_of(user).await.is_empty());
    let opted_out: Option<chrono::DateTime<chrono::Utc>> = service_db()
        .await
        .query_one("SELECT opted_out_at FROM user_phones WHERE user_id = $1", &[&user])
        .await
        .unwrap()
        .get(0);
    assert_eq!(opted_out, None);
}

#[tokio::test]
async fn help_answers_a_help_text() {
    let answer = twiml(&inbound(&fresh_phone(), "help", &new_sid()).await);
    assert!(answer.contains("<Message>Parley:"), "{answer}");
    assert!(answer.contains("STOP"), "{answer}");
}

#[tokio::test]
async fn forged_missing_or_replayed_signatures_are_403_and_store_nothing() {
    let user = Uuid::now_v7();
    let phone = fresh_phone();
    verify(user, &phone).await;
    let p = inbound_params(&phone, "BA117 tomorrow", &new_sid());
    // Missing
    post_form(INBOUND, &p, None).await.assert_problem(403);
    // Forged (a valid-looking signature under another token)
    let forged =
        shared::sms::signature::compute(b"not-the-token", &format!("{}{INBOUND}", setting("PARLEY_PUBLIC_URL")), &p);
    post_form(INBOUND, &p, Some(&forged)).await.assert_problem(403);
    // Replayed onto another URL: signed for the status webhook, sent to the inbound one
    let for_status = twilio_signature(STATUS, &p);
    post_form(INBOUND, &p, Some(&for_status)).await.assert_problem(403);
    // And a tampered body under a genuine signature
    let genuine = twilio_signature(INBOUND, &p);
    let mut tampered = p.clone();
    tampered[1].1 = "something else".into();
    post_form(INBOUND, &tampered, Some(&genuine)).await.assert_problem(403);
    // THEN nothing was stored
    assert!(conversations_of(user).await.is_empty());
    // The status webhook refuses an unsigned callback as well
    let cb = params(&[("MessageSid", "SM1"), ("MessageStatus", "delivered")]);
    post_form(STATUS, &cb, None).await.assert_problem(403);
}

#[tokio::test]
async fn a_status_callback_for_an_unknown_sid_is_accepted() {
    let cb = params(&[("MessageSid", &new_sid()), ("MessageStatus", "delivered")]);
    let sig = twilio_signature(STATUS, &cb);
    assert_eq!(post_form(STATUS, &cb, Some(&sig)).await.status, 200);
}

#[tokio::test]
async fn stop_then_a_confirmation_is_suppressed_and_nothing_is_sent() {
    // GIVEN a verified user who texts STOP
    let user = Uuid::now_v7();
    let phone = fresh_phone();
    verify(user, &phone).await;
    assert!(twiml(&inbound(&phone, "STOP", &new_sid()).await).ends_with("<Response/>"));
    // WHEN a confirmation is queued and sent
    let (id, reference) = queue_confirmation(user).await;
    let report = sender_with(&[]).send_pending_now(&[id]).await.unwrap();
    // THEN it ends suppressed and Twilio never saw it
    assert_eq!(report.suppressed, 1, "{report:?}");
    assert_eq!(status_of(id).await.0, "suppressed");
    assert_eq!(stub_messages_mentioning(&reference).await, 0);
    // AND START opts back in
    let _ = twiml(&inbound(&phone, "start", &new_sid()).await);
    let (id2, reference2) = queue_confirmation(user).await;
    assert_eq!(sender_with(&[]).send_pending_now(&[id2]).await.unwrap().sent, 1);
    assert_eq!(stub_messages_mentioning(&reference2).await, 1);
}

#[tokio::test]
async fn with_sending_switched_off_a_message_ends_suppressed() {
    let user = Uuid::now_v7();
    verify(user, &fresh_phone()).await;
    let (id, reference) = queue_confirmation(user).await;
    let report = sender_with(&[("PARLEY_SMS_SENDING", "off")]).send_pending_now(&[id]).await.unwrap();
    assert_eq!(report.suppressed, 1);
    assert_eq!(status_of(id).await.0, "suppressed");
    assert_eq!(stub_messages_mentioning(&reference).await, 0);
}

#[tokio::test]
async fn a_message_to_an_unverified_user_is_suppressed() {
    let (id, _) = queue_confirmation(Uuid::now_v7()).await;
    assert_eq!(sender_with(&[]).send_pending_now(&[id]).await.unwrap().suppressed, 1);
    assert_eq!(status_of(id).await.0, "suppressed");
}

#[tokio::test]
async fn one_batch_sends_each_message_to_its_own_users_phone() {
    // GIVEN two verified users, one who texted STOP, and one never verified
    let (first, second, stopped) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let (first_phone, second_phone, stopped_phone) = (fresh_phone(), fresh_phone(), fresh_phone());
    verify(first, &first_phone).await;
    verify(second, &second_phone).await;
    verify(stopped, &stopped_phone).await;
    let _ = twiml(&inbound(&stopped_phone, "STOP", &new_sid()).await);
    let mut queued = Vec::new();
    for user in [first, second, stopped, Uuid::now_v7(), first] {
        queued.push(queue_confirmation(user).await);
    }
    // WHEN all five are sent in one batch
    let ids: Vec<Uuid> = queued.iter().map(|(id, _)| *id).collect();
    let report = sender_with(&[]).send_pending_now(&ids).await.unwrap();
    // THEN each went to its own user's phone, and the other two were suppressed
    assert_eq!((report.sent, report.suppressed), (3, 2), "{report:?}");
    let expected = [Some(&first_phone), Some(&second_phone), None, None, Some(&first_phone)];
    for ((id, reference), phone) in queued.iter().zip(expected) {
        assert_eq!(stub_recipients_of(reference).await, phone.into_iter().cloned().collect::<Vec<_>>());
        assert_eq!(status_of(*id).await.0 == "suppressed", phone.is_none(), "{reference}");
    }
}

#[tokio::test]
async fn a_queued_confirmation_is_sent_later_by_send_sms_once_when_twilio_was_down() {
    // GIVEN a verified user and a confirmation queued by a committed effect
    let user = Uuid::now_v7();
    verify(user, &fresh_phone()).await;
    let (id, reference) = queue_confirmation(user).await;
    // WHEN the send right after commit finds Twilio unreachable
    let down = format!("http://127.0.0.1:{}", closed_port());
    let report = sender_with(&[("TWILIO_API_BASE_URL", &down)]).send_pending_now(&[id]).await.unwrap();
    // THEN the row stays pending, one attempt spent, the next one later
    assert_eq!(report.retrying, 1, "{report:?}");
    let (status, _, attempts) = status_of(id).await;
    assert_eq!((status.as_str(), attempts), ("pending", 1));
    // WHEN the backoff has passed and the send-sms job runs (twice)
    service_db().await.execute("UPDATE sms_messages SET next_attempt_at = now() WHERE id = $1", &[&id]).await.unwrap();
    let first = parley_local::registry::invoke("send-sms", json!({})).await.unwrap();
    let second = parley_local::registry::invoke("send-sms", json!({})).await.unwrap();
    assert!(first["sent"].as_u64().unwrap() >= 1, "{first}");
    let _ = second;
    // THEN Twilio got it exactly once and it is delivered
    assert_eq!(stub_messages_mentioning(&reference).await, 1);
    assert_eq!(settled_status(id, "delivered").await.0, "delivered");
}

#[tokio::test]
async fn status_callbacks_out_of_order_end_at_delivered() {
    // GIVEN a user whose number the stub answers out of order (delivered, queued, sent)
    let user = Uuid::now_v7();
    verify(user, "+15005550010").await;
    let (id, _) = queue_confirmation(user).await;
    assert_eq!(sender_with(&[]).send_pending_now(&[id]).await.unwrap().sent, 1);
    // THEN the stored status ends delivered, not sent
    assert_eq!(settled_status(id, "delivered").await.0, "delivered");
}

#[tokio::test]
async fn a_failed_delivery_keeps_twilios_error_code_and_stays_failed() {
    let user = Uuid::now_v7();
    verify(user, "+15005550011").await;
    let (id, _) = queue_confirmation(user).await;
    assert_eq!(sender_with(&[]).send_pending_now(&[id]).await.unwrap().sent, 1);
    assert_eq!(settled_status(id, "failed").await, ("failed".to_owned(), Some(30003)));
    // A late "delivered" cannot move a final status
    let sid: String =
        service_db().await.query_one("SELECT twilio_sid FROM sms_messages WHERE id = $1", &[&id]).await.unwrap().get(0);
    let cb = params(&[("MessageSid", &sid), ("MessageStatus", "delivered")]);
    let sig = twilio_signature(STATUS, &cb);
    assert_eq!(post_form(STATUS, &cb, Some(&sig)).await.status, 200);
    assert_eq!(status_of(id).await.0, "failed");
}

#[tokio::test]
async fn twilio_21610_marks_the_phone_opted_out_and_ends_the_message() {
    // GIVEN a number Twilio answers with 21610 (recipient opted out)
    let user = Uuid::now_v7();
    // WHEN it is verified (which queues and sends a verification notice)
    verify(user, "+15005550004").await;
    // THEN the notice ended failed with 21610 and the phone is marked opted out
    let db = service_db().await;
    let notice = db
        .query_one(
            "SELECT status, error_code FROM sms_messages WHERE user_id = $1 AND template = 'verification_notice'",
            &[&user],
        )
        .await
        .unwrap();
    assert_eq!((notice.get::<_, String>(0), notice.get::<_, Option<i32>>(1)), ("failed".to_owned(), Some(21610)));
    let opted_out: bool = db
        .query_one("SELECT opted_out_at IS NOT NULL FROM user_phones WHERE user_id = $1", &[&user])
        .await
        .unwrap()
        .get(0);
    assert!(opted_out);
    // AND the next message is suppressed without calling Twilio
    let (id, reference) = queue_confirmation(user).await;
    assert_eq!(sender_with(&[]).send_pending_now(&[id]).await.unwrap().suppressed, 1);
    assert_eq!(stub_messages_mentioning(&reference).await, 0);
}

#[tokio::test]
async fn the_same_effect_queues_its_sms_once() {
    let db = Database::from_env(&env_with(&[]), "PARLEY_SERVICE_DATABASE_URL").unwrap();
    let user = Uuid::now_v7();
    let template = Template::PaymentFailed { reference: "R1".into() };
    let key = format!("order:{}:payment_failed", Uuid::now_v7());
    let tx = db.begin_service().await.unwrap();
    assert!(outbox::enqueue(&tx, user, &template, Some(&key)).await.unwrap().is_some());
    assert!(outbox::enqueue(&tx, user, &template, Some(&key)).await.unwrap().is_none());
    tx.commit().await.unwrap();
}
