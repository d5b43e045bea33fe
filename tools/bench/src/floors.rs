//! A floor for every database endpoint: each function driven on its busiest path, its SQL
//! recorded from one warm invocation and replayed on its own connection (`replay.rs`).
//!
//! The data each request needs (a user with a cart, a quote, a wallet, an order, a
//! conversation) is made first through the release gateway, as a client would. Every
//! invocation — and every replay — ends in `ROLLBACK`, so each does the same work.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::e2e::Client;
use crate::replay::Recorder;
use crate::{COLD_STARTS, Measured, Starts, run_function_with, setting};

/// One endpoint: its function, the event that drives it, and what it does outside
/// PostgreSQL (which the floor leaves out).
struct Case {
    function: &'static str,
    event: Box<dyn Fn(usize) -> Value + Send + Sync>,
    outside: &'static str,
}

impl Case {
    /// `event` for every invocation, each with a request id of its own as API Gateway gives
    /// it (a function may key work on it: subscription-create's Stripe idempotency key).
    fn new(function: &'static str, event: Value, outside: &'static str) -> Case {
        let event = move |_| {
            let mut e = event.clone();
            e["requestContext"]["requestId"] = json!(Uuid::now_v7().to_string());
            e
        };
        Case { function, event: Box::new(event), outside }
    }

    /// A webhook driven like the table of every function drives it (signed at run time).
    fn webhook(function: &'static str, root: &Path, outside: &'static str) -> Case {
        let sample = crate::every::sample(root, function);
        Case { function, event: Box::new(move |i| sample.event(i)), outside }
    }
}

fn api(method: &str, path: &str, route: &str, user: Uuid, body: Option<Value>, id: Option<&str>) -> Value {
    crate::event(method, path, &format!("{method} {route}"), Client::headers(user), body, id.map(|i| json!({"id": i})))
}

/// A distinct mobile number per invocation: a Verify check approves a code once.
fn phone(i: usize) -> String {
    format!("+4479111{i:05}")
}

/// The code the local Twilio stub approves (`parley_local::twilio_stub::KNOWN_CODE`; the
/// bench does not link parley-local).
const KNOWN_CODE: &str = "123456";

/// Starts a verification for each number the check run will use (its invocations', then its
/// later cold starts', [`COLD_STARTS`]), in the Twilio stub (as
/// `phone-verification-start` would; that function touches no database, so it has no floor).
async fn start_verifications(http: &reqwest::Client, n: usize) {
    let url = format!(
        "{}/v2/Services/{}/Verifications",
        setting("TWILIO_VERIFY_BASE_URL"),
        setting("TWILIO_VERIFY_SERVICE_SID")
    );
    for i in 0..=n {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("To", &phone(i))
            .append_pair("Channel", "sms")
            .finish();
        let resp = http
            .post(&url)
            .basic_auth(setting("TWILIO_ACCOUNT_SID"), Some(setting("TWILIO_AUTH_TOKEN")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .expect("the Twilio stub answers");
        assert!(resp.status().is_success(), "the Twilio stub refused a verification: {}", resp.status());
    }
}

async fn cases(c: &Client, root: &Path, invocations: usize) -> Vec<Case> {
    start_verifications(&c.http, invocations + COLD_STARTS).await;
    // A user with one item in the cart, a quote not yet in it, a wallet and a conversation.
    let user = Uuid::now_v7();
    let in_cart = c.quote(user).await;
    let item = c.must("/v1/cart/items", user, json!({"quote_id": in_cart})).await["id"]
        .as_str()
        .expect("cart item id")
        .to_owned();
    let spare = c.quote(user).await;
    c.must("/v1/wallets", user, json!({})).await;
    let chat = c.must("/v1/chat/messages", user, json!({"content": "hello"})).await;
    let conversation = chat["message"]["conversation_id"].as_str().expect("conversation").to_owned();
    // Another user with a card order waiting for payment.
    let buyer = c.user_with_cart().await;
    let order = c.must("/v1/checkout", buyer, json!({"method": "card"})).await["order_id"]
        .as_str()
        .expect("order id")
        .to_owned();
    // An anonymous session for the claim, and a user who has none yet (for wallet-create).
    let anonymous = c.post("/v1/sessions/anonymous", None, &[], String::new()).await.1["token"]
        .as_str()
        .expect("anonymous token")
        .to_owned();
    let newcomer = Uuid::now_v7();
    let mut claim_headers = Client::headers(newcomer);
    claim_headers["x-anonymous-session"] = json!(anonymous);
    let health: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("events/health/deep.200.json")).expect("events/health/deep.200.json"),
    )
    .expect("JSON");

    let departure = (chrono::Utc::now() + chrono::Duration::days(30)).date_naive().to_string();
    let quote_body = json!({"product_id": "PROD_DELAY_60",
        "flight": {"number": "BA117", "origin": "LHR", "destination": "JFK", "departure_date": departure}});
    let verification = format!("/v1/chat/conversations/{conversation}/verification");
    // A 60-message conversation: its history is read a page (50) at a time.
    let long = crate::seed_conversation(user).await.to_string();
    let history = format!("/v1/chat/conversations/{long}/messages");
    vec![
        Case::new(
            "chat-history",
            api("GET", &history, "/v1/chat/conversations/{id}/messages", user, None, Some(&long)),
            "",
        ),
        Case::new("cart-get", api("GET", "/v1/cart", "/v1/cart", user, None, None), ""),
        Case::new(
            "cart-add",
            api("POST", "/v1/cart/items", "/v1/cart/items", user, Some(json!({"quote_id": spare})), None),
            "",
        ),
        Case::new(
            "cart-remove",
            api("DELETE", &format!("/v1/cart/items/{item}"), "/v1/cart/items/{id}", user, None, Some(&item)),
            "",
        ),
        Case::new("quote-create", api("POST", "/v1/quotes", "/v1/quotes", user, Some(quote_body), None), ""),
        Case::new("wallet-get", api("GET", "/v1/wallets/me", "/v1/wallets/me", user, None, None), ""),
        Case::new(
            "wallet-sign",
            api(
                "POST",
                "/v1/wallets/me/signatures",
                "/v1/wallets/me/signatures",
                user,
                Some(json!({"message": "I agree"})),
                None,
            ),
            "DynamoDB (rate limit), KMS (Decrypt)",
        ),
        Case::new("orders-list", api("GET", "/v1/orders", "/v1/orders", buyer, None, None), ""),
        Case::new(
            "order-get",
            api("GET", &format!("/v1/orders/{order}"), "/v1/orders/{id}", buyer, None, Some(&order)),
            "",
        ),
        Case::new("subscription-get", api("GET", "/v1/subscriptions/me", "/v1/subscriptions/me", user, None, None), ""),
        Case::new(
            "chat-verification",
            api("GET", &verification, "/v1/chat/conversations/{id}/verification", user, None, Some(&conversation)),
            "",
        ),
        Case::new(
            "chat-message",
            api(
                "POST",
                "/v1/chat/messages",
                "/v1/chat/messages",
                user,
                Some(json!({"content": "Is my flight covered if it is late?", "conversation_id": conversation})),
                None,
            ),
            "DynamoDB (rate limit)",
        ),
        // A wallet checkout: the order, the ledger debit and the items in one transaction. A
        // card checkout cannot be replayed this way: its second transaction (attaching the
        // Checkout Session) needs the first one's order committed, and every COMMIT here is
        // a ROLLBACK. The end-to-end run measures the card path.
        Case::new(
            "checkout",
            api("POST", "/v1/checkout", "/v1/checkout", user, Some(json!({"method": "wallet"})), None),
            "",
        ),
        Case::new("health", health, "KMS, DynamoDB (the deep check)"),
        Case::new("wallet-create", api("POST", "/v1/wallets", "/v1/wallets", newcomer, None, None), "KMS (Encrypt)"),
        Case::new(
            "session-claim",
            crate::event("POST", "/v1/sessions/claim", "POST /v1/sessions/claim", claim_headers, None, None),
            "",
        ),
        Case::new(
            "subscription-create",
            api("POST", "/v1/subscriptions", "/v1/subscriptions", newcomer, Some(json!({"plan": "plus"})), None),
            "Stripe (customer, Checkout Session; the local stub)",
        ),
        Case::new(
            "billing-portal-session",
            api("POST", "/v1/billing/portal-sessions", "/v1/billing/portal-sessions", buyer, None, None),
            "Stripe (Billing Portal session; the local stub)",
        ),
        Case {
            function: "phone-verification-check",
            event: Box::new(move |i| {
                let body = json!({"phone": phone(i), "code": KNOWN_CODE});
                let path = "/v1/phone/verifications/check";
                api("POST", path, path, user, Some(body), None)
            }),
            outside: "Twilio Verify (the local stub)",
        },
        Case::webhook("stripe-webhook", root, ""),
        Case::webhook("twilio-status-webhook", root, ""),
        Case::webhook("twilio-inbound-webhook", root, ""),
    ]
}

/// The floor table's rows for every case whose function this run measures.
pub async fn run(bin_dir: &Path, root: &Path, invocations: usize, client: &Client) -> Vec<Measured> {
    let only: Option<Vec<String>> =
        std::env::var("PARLEY_BENCH_FUNCTIONS").ok().map(|v| v.split_whitespace().map(str::to_owned).collect());
    let upstream = {
        let url: tokio_postgres::Config = setting("DATABASE_URL").parse().expect("DATABASE_URL");
        let host = match &url.get_hosts()[0] {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(_) => panic!("the bench needs PostgreSQL over TCP"),
        };
        format!("{host}:{}", url.get_ports()[0]).parse().expect("host:port")
    };
    let mut out = Vec::new();
    for case in cases(client, root, invocations).await {
        if only.as_ref().is_some_and(|o| !o.iter().any(|f| f == case.function)) {
            continue;
        }
        eprintln!("bench: floor of {}", case.function);
        let recorder = Recorder::start(upstream).await;
        let env = [
            ("PARLEY_DATABASE_URL", recorder.url(&setting("PARLEY_DATABASE_URL"))),
            ("PARLEY_SERVICE_DATABASE_URL", recorder.url(&setting("PARLEY_SERVICE_DATABASE_URL"))),
            ("PARLEY_PHONE_VERIFY_RATE_LIMIT", "100000000/60s".to_owned()),
            // One connection, as one Lambda instance uses one at a time: the recorded
            // invocation and its replays share it.
            ("PARLEY_DB_POOL_SIZE", "1".to_owned()),
            ("PARLEY_SIGN_RATE_LIMIT", "100000000/60s".to_owned()),
        ];
        let (rec, event) = (&recorder, &case.event);
        // PostgreSQL's time in the first two invocations, taken as the next one is made.
        let laps = std::sync::Mutex::new(Vec::new());
        let laps_ref = &laps;
        // The second invocation is recorded (the first is the cold one).
        // Every COMMIT is a ROLLBACK here, so a later cold start's event does the first one's work.
        let mut m = run_function_with(case.function, bin_dir, invocations, &env, Starts::Repeat, &move |i| {
            if i == 1 || i == 2 {
                laps_ref.lock().expect("lock").push(rec.lap());
            }
            rec.record(i == 1);
            event(i)
        })
        .await;
        if let [first, next] = laps.lock().expect("lock")[..] {
            m.db_first_and_next = Some((first, next));
        }
        match recorder.replay(invocations).await {
            // A failed request's timing is not the endpoint's.
            Ok(_) if !m.failures().is_empty() => m.note = format!("no floor: it answered {}", m.failures().join(", ")),
            Ok(times) => m.direct = times,
            Err(e) => m.note = format!("no floor: {e}"),
        }
        if !case.outside.is_empty() && m.note.is_empty() {
            m.note = format!("not in the floor: {}", case.outside);
        }
        out.push(m);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    out
}
