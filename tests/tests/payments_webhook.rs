//! The Stripe webhook: only Stripe-signed bodies get in, every event is stored once and
//! applied once, whatever the order, number or timing of deliveries.

use base64::Engine;
use futures::future::join_all;
use lambda_http::Body;
use parley_e2e::payments::*;
use parley_e2e::*;
use serde_json::{Value, json};
use uuid::Uuid;

/// A user's card order, opened through the gateway; returns (order id, Stripe session).
async fn card_order() -> (Uuid, String, Value) {
    let (user, _, _) = user_with_cart().await;
    let started = checkout(user, "card").await;
    assert_eq!(started.status, 201, "{}", started.body);
    let order = started.body["order_id"].as_str().unwrap().to_owned();
    let session = stub_session(&session_of(&order).await).await;
    (user, order, session)
}

fn paid(mut session: Value) -> Value {
    session["status"] = json!("complete");
    session["payment_status"] = json!("paid");
    session["payment_intent"] = json!(format!("pi_test_{}", Uuid::now_v7().simple()));
    session
}

async fn audit_entries(order: &str, action: &str) -> i64 {
    let db = superuser().await;
    let order: Uuid = order.parse().unwrap();
    db.query_one("SELECT count(*) FROM audit_log WHERE subject_id = $1 AND action = $2", &[&order, &action])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn the_same_event_twenty_times_at_once_has_one_effect_and_twenty_200s() {
    // GIVEN a paid Checkout Session's completed event
    let (_, order, session) = card_order().await;
    let id = event_id();
    let body = event(&id, "checkout.session.completed", paid(session));
    // WHEN Stripe delivers it 20 times concurrently
    let replies = join_all((0..20).map(|_| deliver_signed(&body))).await;
    // THEN every delivery is 200, one processed it, and the order was fulfilled once
    assert!(replies.iter().all(|r| r.status == 200), "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    let processed = replies.iter().filter(|r| r.body["outcome"] == "processed").count();
    assert_eq!(processed, 1);
    assert_eq!(stored_events(&id).await, 1);
    assert_eq!(order_status(&order).await, "PAID");
    assert_eq!(audit_entries(&order, "order.paid").await, 1);
    // AND once more, later: still 200, nothing changes
    let again = deliver_signed(&body).await;
    assert_eq!((again.status, again.body["outcome"].as_str()), (200, Some("duplicate")));
    assert_eq!(audit_entries(&order, "order.paid").await, 1);
}

#[tokio::test]
async fn unsigned_or_badly_signed_deliveries_are_400_and_store_nothing() {
    let (_, _, session) = card_order().await;
    let secret = webhook_secret();
    let cases: Vec<(&str, String, Option<String>)> = {
        let id = event_id();
        let body = event(&id, "checkout.session.completed", paid(session.clone()));
        vec![
            ("wrong secret", body.clone(), Some(stripe_signature(&body, "whsec_someone_else", now()))),
            ("stale timestamp", body.clone(), Some(stripe_signature(&body, &secret, now() - 301))),
            (
                "altered after signing",
                body.replace("\"paid\"", "\"unpaid\""),
                Some(stripe_signature(&body, &secret, now())),
            ),
            ("missing header", body.clone(), None),
            ("garbage header", body.clone(), Some("v1=deadbeef".to_owned())),
        ]
    };
    for (case, body, signature) in cases {
        // WHEN the delivery is not signed by Stripe's current secret, now
        let reply = deliver(&body, signature.as_deref()).await;
        // THEN 400, and no row
        reply.assert_problem(400);
        let id: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(stored_events(id["id"].as_str().unwrap()).await, 0, "{case}");
    }
}

#[tokio::test]
async fn an_extra_v1_signature_and_the_previous_secret_still_verify_during_a_rotation() {
    // GIVEN a webhook configured with a new and an old secret
    let state = stripe_webhook::State::from_source(&env_with(&[(
        "PARLEY_STRIPE_WEBHOOK_SECRETS",
        "whsec_new_secret_0002,whsec_old_secret_0001",
    )]))
    .unwrap();
    let (_, order, session) = card_order().await;
    let body = event(&event_id(), "checkout.session.completed", paid(session));
    let t = now();
    // WHEN Stripe signs with the old secret (and sends a second, unrelated v1 first)
    let old = stripe_signature(&body, "whsec_old_secret_0001", t);
    let header = format!("t={t},v1={},{}", "0".repeat(64), old.split_once(',').unwrap().1);
    let req = http::Request::builder()
        .method("POST")
        .uri("/webhooks/stripe")
        .header("stripe-signature", header)
        .body(Body::Text(body))
        .unwrap();
    let resp = stripe_webhook::handle(&state, req).await;
    // THEN it verifies and applies
    assert_eq!(resp.status(), 200, "{}", body_json(&resp));
    assert_eq!(order_status(&order).await, "PAID");
}

#[tokio::test]
async fn a_base64_encoded_body_verifies_on_its_raw_bytes() {
    // GIVEN API Gateway's event for a body it base64-encoded
    let state = stripe_webhook::State::from_source(&env_with(&[])).unwrap();
    let (_, order, session) = card_order().await;
    let body = event(&event_id(), "checkout.session.completed", paid(session));
    let event = json!({
        "version": "2.0", "routeKey": "POST /webhooks/stripe", "rawPath": "/webhooks/stripe", "rawQueryString": "",
        "headers": {"content-type": "application/json", "stripe-signature": stripe_signature(&body, &webhook_secret(), now())},
        "requestContext": {"accountId": "123456789012", "apiId": "abc123", "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123", "http": {"method": "POST", "path": "/webhooks/stripe", "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.7", "userAgent": "Stripe/1.0"}, "requestId": "b64", "routeKey": "POST /webhooks/stripe",
            "stage": "$default", "time": "22/Nov/2026:00:00:00 +0000", "timeEpoch": 1_795_305_600_000_i64},
        "body": base64::engine::general_purpose::STANDARD.encode(body.as_bytes()),
        "isBase64Encoded": true,
    });
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    // WHEN it is handled THEN the signature verifies and the order is paid
    let resp = stripe_webhook::handle(&state, req).await;
    assert_eq!(resp.status(), 200, "{}", body_json(&resp));
    assert_eq!(order_status(&order).await, "PAID");
}

#[tokio::test]
async fn an_amount_that_differs_from_the_order_total_fulfils_nothing() {
    // GIVEN a completed session whose amount is not the order's total
    let (user, order, session) = card_order().await;
    let mut tampered = paid(session);
    tampered["amount_total"] = json!(tampered["amount_total"].as_i64().unwrap() - 1);
    let id = event_id();
    // WHEN it arrives
    let reply = deliver_signed(&event(&id, "checkout.session.completed", tampered)).await;
    // THEN it is stored as failed (200, so Stripe stops), the order stays PENDING, the cart full
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["outcome"], "failed");
    assert_eq!(order_status(&order).await, "PENDING");
    assert_eq!(get_as("/v1/cart", &as_user(user)).await.body["items"].as_array().unwrap().len(), 1);
    let db = superuser().await;
    let row = db.query_one("SELECT status, last_error FROM webhook_events WHERE event_id = $1", &[&id]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "failed");
    assert!(row.get::<_, String>(1).contains("differs from the order total"));
}

#[tokio::test]
async fn an_expired_session_expires_its_order_and_frees_the_items() {
    let (user, order, session) = card_order().await;
    let mut expired = session;
    expired["status"] = json!("expired");
    let reply = deliver_signed(&event(&event_id(), "checkout.session.expired", expired)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(order_status(&order).await, "EXPIRED");
    // THEN the cart still holds the item and can be checked out again
    assert_eq!(get_as("/v1/cart", &as_user(user)).await.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(checkout(user, "card").await.status, 201);
}

#[tokio::test]
async fn a_paid_order_refunded_in_full_is_refunded_and_never_moves_back() {
    let (_, order, session) = card_order().await;
    let session = paid(session);
    let intent = session["payment_intent"].clone();
    let completed = event(&event_id(), "checkout.session.completed", session.clone());
    assert_eq!(deliver_signed(&completed).await.status, 200);
    let charge = json!({"id": "ch_test_1", "object": "charge", "amount": session["amount_total"],
        "amount_refunded": session["amount_total"], "refunded": true, "payment_intent": intent, "currency": "usd"});
    assert_eq!(deliver_signed(&event(&event_id(), "charge.refunded", charge)).await.status, 200);
    assert_eq!(order_status(&order).await, "REFUNDED");
    assert_eq!(audit_entries(&order, "order.refunded").await, 1);
    // WHEN a late async_payment_succeeded for the same session arrives THEN nothing moves back
    let late = event(&event_id(), "checkout.session.async_payment_succeeded", session);
    assert_eq!(deliver_signed(&late).await.status, 200);
    assert_eq!(order_status(&order).await, "REFUNDED");
}

#[tokio::test]
async fn an_unknown_type_or_an_unparseable_body_is_still_stored_once() {
    let id = event_id();
    let reply = deliver_signed(&event(&id, "radar.early_fraud_warning.created", json!({"id": "issfr_1"}))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(stored_events(&id).await, 1);
    // A signed body that is not even JSON is kept too, under its hash
    let reply = deliver_signed("not json at all").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let stored = reply.body["event_id"].as_str().unwrap();
    assert!(stored.starts_with("sha256:"));
    assert_eq!(stored_events(stored).await, 1);
}

/// A TCP relay in front of PostgreSQL that can be cut and restored: to the function, the
/// database goes away while it holds pooled connections, then comes back on the same port.
struct Relay {
    port: u16,
    upstream: String,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Relay {
    async fn start(upstream: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let relay = Relay { port, upstream: upstream.to_owned(), tasks: Default::default() };
        relay.up().await;
        relay
    }

    async fn up(&self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let (upstream, tasks) = (self.upstream.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(conn.abort_handle());
            }
        });
        self.tasks.lock().unwrap().push(accept.abort_handle());
    }

    /// Stops listening and drops every open connection.
    fn down(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

#[tokio::test]
async fn the_database_going_down_during_a_delivery_is_503_and_the_redelivery_applies_once() {
    // GIVEN a warm webhook whose database connections run through a relay
    let url = setting("PARLEY_SERVICE_DATABASE_URL");
    let (head, tail) = url.rsplit_once('@').unwrap();
    let (hostport, db) = tail.split_once('/').unwrap();
    let relay = Relay::start(hostport).await;
    let via_relay = format!("{head}@127.0.0.1:{}/{db}?connect_timeout=1", relay.port);
    let state = stripe_webhook::State::from_source(&env_with(&[("PARLEY_SERVICE_DATABASE_URL", &via_relay)])).unwrap();
    let request = |body: &str| {
        http::Request::builder()
            .method("POST")
            .uri("/webhooks/stripe")
            .header("stripe-signature", stripe_signature(body, &webhook_secret(), now()))
            .body(Body::Text(body.to_owned()))
            .unwrap()
    };
    let warm_up = event(&event_id(), "radar.early_fraud_warning.created", json!({"id": "issfr_warm"}));
    assert_eq!(stripe_webhook::handle(&state, request(&warm_up)).await.status(), 200);
    let (_, order, session) = card_order().await;
    let id = event_id();
    let body = event(&id, "checkout.session.completed", paid(session));
    // WHEN the database goes away and Stripe delivers
    relay.down();
    let resp = stripe_webhook::handle(&state, request(&body)).await;
    // THEN 503 (Stripe retries), nothing stored, nothing applied
    assert_eq!(resp.status(), 503);
    assert_eq!(stored_events(&id).await, 0);
    assert_eq!(order_status(&order).await, "PENDING");
    // WHEN it is back and Stripe delivers again (twice) THEN the event is applied once
    relay.up().await;
    let mut statuses = Vec::new();
    for _ in 0..2 {
        statuses.push(stripe_webhook::handle(&state, request(&body)).await.status().as_u16());
    }
    // (the first may still meet a pooled connection that died with the relay: Stripe's next
    // retry then applies it)
    if statuses[0] != 200 {
        statuses.push(stripe_webhook::handle(&state, request(&body)).await.status().as_u16());
    }
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
    assert_eq!(order_status(&order).await, "PAID");
    assert_eq!(stored_events(&id).await, 1);
    assert_eq!(audit_entries(&order, "order.paid").await, 1);
    relay.down();
}

#[tokio::test]
async fn an_event_stripe_lists_but_never_delivered_is_applied_by_reconcile_stripe() {
    // GIVEN a card order paid in Stripe whose completed event never reached the webhook
    let (user, order, session) = card_order().await;
    let events = stub_pay(session["id"].as_str().unwrap()).await;
    let lost = events[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(order_status(&order).await, "PENDING");
    // WHEN the hourly reconciliation runs (the contract test may run one at the same time:
    // either finds the event missing and applies it)
    parley_local::registry::invoke("reconcile-stripe", json!({})).await.unwrap();
    // THEN the event is stored once and applied: the order PAID, the cart empty
    assert_eq!(stored_events(&lost).await, 1);
    assert_eq!(order_status(&order).await, "PAID");
    assert_eq!(get_as("/v1/cart", &as_user(user)).await.body["items"], json!([]));
    // AND a late delivery of the same event changes nothing
    let late = deliver_signed(&events[0].to_string()).await;
    assert_eq!((late.status, late.body["outcome"].as_str()), (200, Some("duplicate")));
    assert_eq!(audit_entries(&order, "order.paid").await, 1);
}

#[tokio::test]
async fn a_failed_event_is_retried_with_growing_backoff_then_marked_dead() {
    // GIVEN an event that failed permanently (its amount does not match its order)
    let (_, order, session) = card_order().await;
    let mut wrong = paid(session);
    wrong["amount_total"] = json!(1);
    let id = event_id();
    assert_eq!(deliver_signed(&event(&id, "checkout.session.completed", wrong)).await.body["outcome"], "failed");
    let db = superuser().await;
    let make_due = "UPDATE webhook_events SET next_attempt_at = now() - interval '1 second' WHERE event_id = $1";
    let read = "SELECT status, attempts, extract(epoch FROM next_attempt_at - now())::float8 FROM webhook_events WHERE event_id = $1";
    let state = retry_webhooks::State::from_source(&env_with(&[("PARLEY_WEBHOOK_MAX_ATTEMPTS", "2")])).unwrap();
    // WHEN its backoff has passed and the retry job runs
    db.execute(make_due, &[&id]).await.unwrap();
    retry_webhooks::run(&state).await.unwrap();
    // THEN it was tried again, failed again, and waits longer (2 minutes after 1)
    let row = db.query_one(read, &[&id]).await.unwrap();
    // (>= 2: the contract test's sample run of the same job may have tried it too)
    assert_eq!(row.get::<_, String>(0), "failed");
    assert!(row.get::<_, i32>(1) >= 2);
    assert!(row.get::<_, f64>(2) > 90.0, "backoff grows: {}", row.get::<_, f64>(2));
    // WHEN it is due again with its attempts used up THEN it is dead, and the order untouched
    db.execute(make_due, &[&id]).await.unwrap();
    let report = retry_webhooks::run(&state).await.unwrap();
    assert!(report.dead >= 1, "{report:?}");
    let row = db.query_one(read, &[&id]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "dead");
    assert_eq!(order_status(&order).await, "PENDING");
}

#[tokio::test]
async fn a_saved_card_keeps_brand_last4_and_expiry_only_until_it_is_detached() {
    // GIVEN a user with a Stripe customer (made by their first card checkout)
    let (user, _, session) = card_order().await;
    let customer = session["customer"].as_str().unwrap().to_owned();
    let pm_id = format!("pm_test_{}", Uuid::now_v7().simple());
    let pm = json!({"id": pm_id, "object": "payment_method", "type": "card", "customer": customer,
        "billing_details": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030, "fingerprint": "Xt5EWLLDS7FJjR1c",
                 "funding": "credit", "country": "US"}});
    // WHEN Stripe reports the card attached
    assert_eq!(deliver_signed(&event(&event_id(), "payment_method.attached", pm.clone())).await.status, 200);
    // THEN only brand, last four and expiry are kept, for that user
    let db = superuser().await;
    let row = db
        .query_one(
            "SELECT user_id, brand, last4, exp_month, exp_year FROM user_payment_methods WHERE stripe_payment_method_id = $1",
            &[&pm_id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Uuid>(0), user);
    assert_eq!((row.get::<_, String>(1), row.get::<_, String>(2)), ("visa".to_owned(), "4242".to_owned()));
    assert_eq!((row.get::<_, i16>(3), row.get::<_, i16>(4)), (12, 2030));
    // WHEN it is detached THEN it is gone
    let mut detached = pm;
    detached["customer"] = Value::Null;
    assert_eq!(deliver_signed(&event(&event_id(), "payment_method.detached", detached)).await.status, 200);
    let left: i64 = db
        .query_one("SELECT count(*) FROM user_payment_methods WHERE stripe_payment_method_id = $1", &[&pm_id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}
