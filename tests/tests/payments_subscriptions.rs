//! Subscriptions end to end (issue 10): a plan bought through the local Stripe's Checkout,
//! its events signed with Stripe's scheme and delivered to the gateway — in order, out of
//! order, twice — the tier it gives, the Billing Portal, and Stripe down while an event is
//! applied.

use parley_e2e::payments::*;
use parley_e2e::*;
use serde_json::{Value, json};
use uuid::Uuid;

/// POSTs a form to one of the stub's test hooks; returns the events it recorded.
async fn stub_hook(path: &str, form: &[(&str, &str)]) -> Vec<Value> {
    let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let resp = client()
        .post(format!("{}{path}", setting("PARLEY_STRIPE_API_BASE")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "the stub refused {path}");
    let body: Value = resp.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

/// The first event of `kind` in `events`.
fn of_kind<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    events.iter().find(|e| e["type"] == kind).unwrap_or_else(|| panic!("no {kind} in {events:?}"))
}

/// Delivers `event` signed now; asserts Stripe would see 200 and returns the outcome.
async fn deliver_ok(event: &Value) -> String {
    let reply = deliver_signed(&event.to_string()).await;
    assert_eq!(reply.status, 200, "{}: {}", event["type"], reply.body);
    reply.body["outcome"].as_str().unwrap().to_owned()
}

async fn me(user: Uuid) -> Value {
    let reply = get_as("/v1/subscriptions/me", &as_user(user)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// A user who opened a `plan` subscription checkout and paid it in the stub; returns the
/// user and the stub's events (not delivered).
async fn paid_subscription(plan: &str) -> (Uuid, Vec<Value>) {
    let user = Uuid::now_v7();
    let started = post_json_as("/v1/subscriptions", &as_user(user), &json!({"plan": plan})).await;
    assert_eq!(started.status, 201, "{}", started.body);
    assert_eq!(started.body["plan"], plan);
    assert!(started.body["checkout_url"].as_str().unwrap().starts_with("https://"), "{}", started.body);
    let session = started.body["session_id"].as_str().unwrap().to_owned();
    let events = stub_pay(&session).await;
    (user, events)
}

/// A user subscribed to `plan`, every event delivered in order; returns the user and the
/// subscription id.
async fn subscriber(plan: &str) -> (Uuid, String) {
    let (user, events) = paid_subscription(plan).await;
    for e in &events {
        assert_eq!(deliver_ok(e).await, "processed");
    }
    let id = of_kind(&events, "customer.subscription.created")["data"]["object"]["id"].as_str().unwrap().to_owned();
    (user, id)
}

#[tokio::test]
async fn a_paid_subscription_checkout_gives_the_user_its_plan() {
    // GIVEN a user who is on the free tier
    let (user, events) = paid_subscription("plus").await;
    let before = me(user).await;
    assert_eq!((before["plan"].clone(), before["status"].clone()), (json!("free"), Value::Null), "{before}");
    // WHEN Stripe delivers what the paid checkout caused
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["customer.subscription.created", "invoice.paid", "checkout.session.completed"]);
    for e in &events {
        assert_eq!(deliver_ok(e).await, "processed");
    }
    // THEN the user's plan is plus, active, with its current period
    let now = me(user).await;
    assert_eq!(now["plan"], "plus", "{now}");
    assert_eq!(now["status"], "active", "{now}");
    assert_eq!(now["cancel_at_period_end"], false, "{now}");
    let start: chrono::DateTime<chrono::Utc> = now["current_period_start"].as_str().unwrap().parse().unwrap();
    let end: chrono::DateTime<chrono::Utc> = now["current_period_end"].as_str().unwrap().parse().unwrap();
    assert!(start <= chrono::Utc::now() && end > chrono::Utc::now(), "{now}");
    // AND the invoice is stored as paid, and the change audited
    let db = superuser().await;
    let invoice =
        db.query_one("SELECT status, amount_paid_cents FROM invoices WHERE user_id = $1", &[&user]).await.unwrap();
    assert_eq!((invoice.get::<_, String>(0), invoice.get::<_, i64>(1)), ("paid".to_owned(), 900));
    let audited: i64 = db
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'subscription.changed' AND actor_user_id = $1",
            &[&user],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 1);
    // AND a second subscription is refused while this one is active
    let again = post_json_as("/v1/subscriptions", &as_user(user), &json!({"plan": "pro"})).await;
    again.assert_problem(409);
}

#[tokio::test]
async fn events_in_any_order_leave_the_newest_state() {
    // GIVEN a paid subscription whose `created` event has not arrived yet
    let (user, events) = paid_subscription("pro").await;
    let created = of_kind(&events, "customer.subscription.created").clone();
    let id = created["data"]["object"]["id"].as_str().unwrap().to_owned();
    // AND two later changes in the Billing Portal: cancel at the period's end, then undo it
    let cancel = stub_hook(&format!("/_stub/subscriptions/{id}"), &[("cancel_at_period_end", "true")]).await;
    let undo = stub_hook(&format!("/_stub/subscriptions/{id}"), &[("cancel_at_period_end", "false")]).await;
    let (older, newer) = (&cancel[0], &undo[0]);
    assert_eq!(older["data"]["object"]["cancel_at_period_end"], true, "the older event carries the old state");
    // WHEN the newer `updated` arrives first, then `created`, then the older `updated`
    for e in [newer, &created, older] {
        assert_eq!(deliver_ok(e).await, "processed");
        // THEN after each, the row shows Stripe's current state: not cancelling
        let now = me(user).await;
        assert_eq!((now["plan"].clone(), now["status"].clone()), (json!("pro"), json!("active")), "{now}");
        assert_eq!(now["cancel_at_period_end"], false, "after {}: {now}", e["type"]);
    }
    // AND a repeated delivery changes nothing
    assert_eq!(deliver_ok(older).await, "duplicate");
}

#[tokio::test]
async fn a_failed_renewal_is_past_due_and_a_cancellation_ends_the_plan() {
    // GIVEN a plus subscriber
    let (user, id) = subscriber("plus").await;
    // WHEN a renewal payment fails
    let failed = stub_hook(&format!("/_stub/subscriptions/{id}/renewal_failed"), &[]).await;
    assert_eq!(deliver_ok(of_kind(&failed, "invoice.payment_failed")).await, "processed");
    // THEN the subscription is past due (the plan stays while Stripe retries) and the open
    // invoice is stored
    let now = me(user).await;
    assert_eq!((now["plan"].clone(), now["status"].clone()), (json!("plus"), json!("past_due")), "{now}");
    let db = superuser().await;
    let open: i64 = db
        .query_one("SELECT count(*) FROM invoices WHERE user_id = $1 AND status = 'open'", &[&user])
        .await
        .unwrap()
        .get(0);
    assert_eq!(open, 1);
    // WHEN Stripe gives up and cancels it
    let canceled = stub_hook(&format!("/_stub/subscriptions/{id}"), &[("status", "canceled")]).await;
    assert_eq!(deliver_ok(of_kind(&canceled, "customer.subscription.deleted")).await, "processed");
    // THEN the user is back on the free tier, the canceled subscription still shown
    let now = me(user).await;
    assert_eq!((now["plan"].clone(), now["status"].clone()), (json!("free"), json!("canceled")), "{now}");
}

#[tokio::test]
async fn a_plan_not_on_sale_is_a_422_naming_the_field_and_changes_nothing() {
    let user = Uuid::now_v7();
    for body in [json!({"plan": "gold"}), json!({"plan": "free"})] {
        let reply = post_json_as("/v1/subscriptions", &as_user(user), &body).await;
        reply.assert_problem(422);
        assert_eq!(reply.body["errors"][0]["field"], "plan", "{}", reply.body);
        assert!(reply.body["errors"][0]["message"].as_str().unwrap().contains("plus"), "{}", reply.body);
    }
    let db = superuser().await;
    let customers: i64 =
        db.query_one("SELECT count(*) FROM payment_customers WHERE user_id = $1", &[&user]).await.unwrap().get(0);
    assert_eq!(customers, 0, "no Stripe customer for a refused request");
    // AND an anonymous caller cannot subscribe
    let (_, token) = anonymous_session().await;
    post_json_as("/v1/subscriptions", &as_anonymous(&token), &json!({"plan": "plus"})).await.assert_problem(401);
}

#[tokio::test]
async fn the_billing_portal_needs_a_stripe_customer() {
    // GIVEN a user who never paid: 409
    let stranger = Uuid::now_v7();
    post_as("/v1/billing/portal-sessions", &as_user(stranger)).await.assert_problem(409);
    // GIVEN a subscriber: a portal URL from Stripe
    let (user, _) = subscriber("plus").await;
    let reply = post_as("/v1/billing/portal-sessions", &as_user(user)).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert!(reply.body["url"].as_str().unwrap().starts_with("https://billing.stripe.local/"), "{}", reply.body);
}

#[tokio::test]
async fn the_plan_decides_the_signed_in_chat_limit() {
    // GIVEN a gateway where signed-in users get 1 message a minute, plus subscribers 3
    let gateway =
        Gateway::start(&[("PARLEY_CHAT_RATE_LIMIT_USER", "1/60s"), ("PARLEY_CHAT_RATE_LIMIT_TIERS", "plus:3/60s")]);
    let (subscriber, _) = subscriber("plus").await;
    let free = Uuid::now_v7();
    let statuses = |user: Uuid| {
        let gateway = &gateway;
        async move {
            let mut out = Vec::new();
            for i in 0..4 {
                let reply = send(
                    gateway
                        .request(reqwest::Method::POST, "/v1/chat/messages", &as_user(user))
                        .json(&json!({"content": format!("hello {i}")})),
                )
                .await;
                out.push(reply.status);
            }
            out
        }
    };
    // WHEN each sends four messages within the minute
    // THEN the free user is limited after one, the subscriber after three (a window boundary
    // between two messages can only admit more, never fewer, so the counts are lower bounds)
    let free_statuses = statuses(free).await;
    let plus_statuses = statuses(subscriber).await;
    assert_eq!(free_statuses[0], 201);
    assert!(free_statuses.iter().filter(|s| **s == 201).count() <= 2, "{free_statuses:?}");
    assert!(free_statuses.contains(&429), "{free_statuses:?}");
    assert_eq!(&plus_statuses[..3], &[201, 201, 201], "{plus_statuses:?}");
}

#[tokio::test]
async fn with_stripe_down_a_subscription_event_is_a_503_and_applies_once_later() {
    // GIVEN a paid subscription's `created` event, and a gateway that cannot reach Stripe
    let (user, events) = paid_subscription("plus").await;
    let created = of_kind(&events, "customer.subscription.created").to_string();
    let down = format!("http://127.0.0.1:{}/", closed_port());
    let gateway = Gateway::start(&[("PARLEY_STRIPE_API_BASE", &down), ("PARLEY_STRIPE_DEADLINE_MS", "2000")]);
    // WHEN it is delivered there
    let reply = send(
        client()
            .post(format!("{}/webhooks/stripe", gateway.url))
            .header("content-type", "application/json")
            .header("stripe-signature", stripe_signature(&created, &webhook_secret(), now()))
            .body(created.clone()),
    )
    .await;
    // THEN Stripe is told to retry, and nothing is applied
    reply.assert_problem(503);
    assert_eq!(me(user).await["plan"], "free");
    // WHEN Stripe redelivers once it is back
    assert_eq!(deliver_ok(&serde_json::from_str(&created).unwrap()).await, "processed");
    // THEN the subscription is applied, once
    assert_eq!(me(user).await["plan"], "plus");
    let db = superuser().await;
    let rows: i64 =
        db.query_one("SELECT count(*) FROM subscriptions WHERE user_id = $1", &[&user]).await.unwrap().get(0);
    assert_eq!(rows, 1);
}
