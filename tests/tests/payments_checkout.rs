//! Checkout, end to end through the local gateway and the local Stripe: by card (Checkout
//! Session, paid in the stub, Stripe's signed event back to the webhook) and by wallet.

use futures::future::join_all;
use parley_e2e::payments::*;
use parley_e2e::*;
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn card_checkout_paid_in_stripe_fulfils_the_order_and_empties_the_cart() {
    // GIVEN a user with one quote in the cart
    let (user, quote_id, premium) = user_with_cart().await;
    // WHEN they check out by card
    let started = checkout(user, "card").await;
    // THEN an order is opened with a Stripe Checkout URL, PENDING
    assert_eq!(started.status, 201, "{}", started.body);
    let order = started.body["order_id"].as_str().unwrap().to_owned();
    assert!(started.body["checkout_url"].as_str().unwrap().starts_with("https://"));
    assert!(started.body["expires_at"].is_string());
    assert_eq!(order_status(&order).await, "PENDING");
    // AND the stub's session carries the order and the server's price
    let session_id = session_of(&order).await;
    let session = stub_session(&session_id).await;
    assert_eq!(session["mode"], "payment");
    assert_eq!(session["client_reference_id"], order.as_str());
    assert_eq!(session["metadata"]["order_id"], order.as_str());
    assert_eq!(session["amount_total"], premium);
    // WHEN the buyer pays on Stripe's page and Stripe delivers its signed events
    for event in stub_pay(&session_id).await {
        let delivered = deliver_signed(&event.to_string()).await;
        assert_eq!(delivered.status, 200, "{}", delivered.body);
    }
    // THEN the order is PAID with its item, the item PURCHASED, the cart empty
    let got = get_as(&format!("/v1/orders/{order}"), &as_user(user)).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body["status"], "PAID");
    assert_eq!(got.body["method"], "card");
    assert_eq!(got.body["total_cents"], premium);
    assert_eq!(got.body["items"][0]["quote_id"], quote_id.as_str());
    let cart = get_as("/v1/cart", &as_user(user)).await;
    assert_eq!(cart.body["items"], json!([]));
    let listed = get_as("/v1/orders", &as_user(user)).await;
    assert_eq!(listed.body["orders"][0]["id"], order.as_str());
}

#[tokio::test]
async fn a_second_card_checkout_of_the_same_user_reuses_their_stripe_customer() {
    // GIVEN a user who started one card checkout and let it expire
    let (user, _, _) = user_with_cart().await;
    let first = checkout(user, "card").await;
    assert_eq!(first.status, 201, "{}", first.body);
    let order = first.body["order_id"].as_str().unwrap().to_owned();
    let expired = stub_session(&session_of(&order).await).await;
    let mut closed = expired.clone();
    closed["status"] = json!("expired");
    assert_eq!(deliver_signed(&event(&event_id(), "checkout.session.expired", closed)).await.status, 200);
    assert_eq!(order_status(&order).await, "EXPIRED");
    // WHEN they check out again (the item is back in the cart to sell)
    let second = checkout(user, "card").await;
    assert_eq!(second.status, 201, "{}", second.body);
    // THEN both sessions belong to one Stripe customer
    let again = stub_session(&session_of(second.body["order_id"].as_str().unwrap()).await).await;
    assert_eq!(again["customer"], expired["customer"]);
    let db = superuser().await;
    let n: i64 =
        db.query_one("SELECT count(*) FROM payment_customers WHERE user_id = $1", &[&user]).await.unwrap().get(0);
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_pending_card_checkout_holds_its_items() {
    let (user, _, _) = user_with_cart().await;
    assert_eq!(checkout(user, "card").await.status, 201);
    // WHEN the same cart is checked out again while the first session is open
    let again = checkout(user, "wallet").await;
    // THEN it is refused, naming the pending order
    again.assert_problem(409);
    assert!(again.body["order_id"].is_string(), "{}", again.body);
}

#[tokio::test]
async fn wallet_checkout_debits_once_even_under_ten_concurrent_checkouts() {
    // GIVEN a user with a funded wallet and one quote in the cart
    let (user, _, premium) = user_with_cart().await;
    let wallet = post_as("/v1/wallets", &as_user(user)).await;
    assert_eq!(wallet.status, 201, "{}", wallet.body);
    let before = get_as("/v1/wallets/me", &as_user(user)).await.body["balance"]["amount"].as_i64().unwrap();
    // WHEN ten wallet checkouts arrive at once
    let replies = join_all((0..10).map(|_| checkout(user, "wallet"))).await;
    // THEN exactly one pays; the others find the cart empty
    let paid: Vec<&Reply> = replies.iter().filter(|r| r.status == 201).collect();
    assert_eq!(paid.len(), 1, "{:?}", replies.iter().map(|r| (r.status, r.body.clone())).collect::<Vec<_>>());
    for r in replies.iter().filter(|r| r.status != 201) {
        r.assert_problem(409);
    }
    assert_eq!(paid[0].body["status"], "PAID");
    assert_eq!(paid[0].body["balance_cents"], before - premium);
    // AND the balance moved once, by the order total
    let after = get_as("/v1/wallets/me", &as_user(user)).await.body["balance"]["amount"].as_i64().unwrap();
    assert_eq!(after, before - premium);
    let order = paid[0].body["order_id"].as_str().unwrap();
    assert_eq!(order_status(order).await, "PAID");
    let cart = get_as("/v1/cart", &as_user(user)).await;
    assert_eq!(cart.body["items"], json!([]));
}

#[tokio::test]
async fn wallet_checkout_short_of_funds_is_402_and_changes_nothing() {
    // GIVEN a user whose wallet holds less than the cart costs
    let (user, _, premium) = user_with_cart().await;
    assert_eq!(post_as("/v1/wallets", &as_user(user)).await.status, 201);
    let db = superuser().await;
    let row = db.query_one("SELECT id, balance_cents FROM user_wallets WHERE user_id = $1", &[&user]).await.unwrap();
    let (wallet, balance): (Uuid, i64) = (row.get(0), row.get(1));
    let drain = -(balance - premium + 1);
    db.execute("SELECT ledger_post($1, $2, 'purchase', 'test:drain')", &[&wallet, &drain]).await.unwrap();
    // WHEN they check out from the wallet
    let reply = checkout(user, "wallet").await;
    // THEN 402 problem+json, and no order, no debit, the cart untouched
    reply.assert_problem(402);
    assert_eq!(reply.body["balance_cents"], premium - 1);
    let orders: i64 = db.query_one("SELECT count(*) FROM orders WHERE user_id = $1", &[&user]).await.unwrap().get(0);
    assert_eq!(orders, 0);
    let left: i64 =
        db.query_one("SELECT balance_cents FROM user_wallets WHERE id = $1", &[&wallet]).await.unwrap().get(0);
    assert_eq!(left, premium - 1);
    assert_eq!(get_as("/v1/cart", &as_user(user)).await.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_empty_cart_is_409_and_expired_quotes_are_410_naming_them() {
    // GIVEN a user with nothing in the cart THEN checkout is 409
    checkout(Uuid::now_v7(), "card").await.assert_problem(409);
    // GIVEN a cart whose quote has lapsed
    let (user, quote_id, _) = user_with_cart().await;
    let db = superuser().await;
    let id: Uuid = quote_id.parse().unwrap();
    db.execute(
        "UPDATE quotes SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 minute' WHERE id = $1",
        &[&id],
    )
    .await
    .unwrap();
    // WHEN they check out THEN 410 names the quote, and no order exists
    let reply = checkout(user, "wallet").await;
    reply.assert_problem(410);
    assert_eq!(reply.body["expired_quote_ids"], json!([quote_id]));
    assert!(reply.body["detail"].as_str().unwrap().contains(&quote_id));
    let orders: i64 = db.query_one("SELECT count(*) FROM orders WHERE user_id = $1", &[&user]).await.unwrap().get(0);
    assert_eq!(orders, 0);
}

#[tokio::test]
async fn checkout_needs_a_signed_in_user_and_orders_are_private() {
    let (_, anon) = anonymous_session().await;
    post_json_as("/v1/checkout", &as_anonymous(&anon), &json!({"method": "card"})).await.assert_problem(401);
    // GIVEN someone's paid order
    let (user, _, _) = user_with_cart().await;
    assert_eq!(post_as("/v1/wallets", &as_user(user)).await.status, 201);
    let paid = checkout(user, "wallet").await;
    let order = paid.body["order_id"].as_str().unwrap();
    // THEN another user sees neither it nor any order
    let stranger = as_user(Uuid::now_v7());
    get_as(&format!("/v1/orders/{order}"), &stranger).await.assert_problem(404);
    assert_eq!(get_as("/v1/orders", &stranger).await.body["orders"], json!([]));
    // AND the owner pages through their orders
    let page = get_as("/v1/orders?limit=1", &as_user(user)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.body["orders"][0]["id"], order);
    assert!(page.body.get("next_cursor").is_none());
    get_as("/v1/orders?limit=0", &as_user(user)).await.assert_problem(422);
}

#[tokio::test]
async fn parley_local_stripe_pay_finishes_a_purchase_like_stripe_trigger() {
    // GIVEN an open Checkout Session for a user's cart
    let (user, _, _) = user_with_cart().await;
    let started = checkout(user, "card").await;
    assert_eq!(started.status, 201, "{}", started.body);
    let order = started.body["order_id"].as_str().unwrap().to_owned();
    let session = session_of(&order).await;
    // WHEN a developer runs `parley-local stripe pay <session>` against the stack
    let out =
        tokio::process::Command::new(binary("parley-local")).args(["stripe", "pay", &session]).output().await.unwrap();
    // THEN the signed event reached the webhook (200) and the order is paid
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("checkout.session.completed") && stdout.contains("200"), "{stdout}");
    assert_eq!(order_status(&order).await, "PAID");
    // AND paying it again is refused by the stub: a session completes once
    let again =
        tokio::process::Command::new(binary("parley-local")).args(["stripe", "pay", &session]).output().await.unwrap();
    assert!(!again.status.success());
}

#[tokio::test]
async fn the_api_role_cannot_mark_its_own_order_paid() {
    // GIVEN a user's pending card order
    let (user, _, _) = user_with_cart().await;
    let order: Uuid = checkout(user, "card").await.body["order_id"].as_str().unwrap().parse().unwrap();
    // WHEN the API role, acting as that user, tries to set the status itself
    let app = connect(&setting("PARLEY_DATABASE_URL")).await;
    app.batch_execute(&format!("BEGIN; SELECT set_config('app.user_id', '{user}', true)")).await.unwrap();
    let denied = app.execute("UPDATE orders SET status = 'PAID' WHERE id = $1", &[&order]).await;
    app.batch_execute("ROLLBACK").await.unwrap();
    // THEN PostgreSQL refuses: only Stripe's events (the service role) move an order
    let err = denied.unwrap_err();
    assert_eq!(err.code(), Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE), "{err}");
    assert_eq!(order_status(&order.to_string()).await, "PENDING");
}

#[tokio::test]
async fn the_sweep_leaves_an_item_being_paid_for_and_the_payment_still_purchases_it() {
    // GIVEN a card checkout still open, whose quote lapses before the buyer pays
    let (user, quote_id, _) = user_with_cart().await;
    let started = checkout(user, "card").await;
    assert_eq!(started.status, 201, "{}", started.body);
    let order = started.body["order_id"].as_str().unwrap().to_owned();
    let db = superuser().await;
    let quote: Uuid = quote_id.parse().unwrap();
    db.execute(
        "UPDATE quotes SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 minute' WHERE id = $1",
        &[&quote],
    )
    .await
    .unwrap();
    // WHEN the sweep runs
    let state = sweep_expired::State::from_env().await.unwrap();
    sweep_expired::run(&state).await.unwrap();
    let item_status = || async {
        db.query_one("SELECT status FROM quote_cart_items WHERE quote_id = $1", &[&quote])
            .await
            .unwrap()
            .get::<_, String>(0)
    };
    // THEN the item is still ACTIVE (its order is live)
    assert_eq!(item_status().await, "ACTIVE");
    // WHEN the buyer pays
    for event in stub_pay(&session_of(&order).await).await {
        assert_eq!(deliver_signed(&event.to_string()).await.status, 200);
    }
    // THEN the order is PAID and the item PURCHASED, not stranded as EXPIRED
    assert_eq!(order_status(&order).await, "PAID");
    assert_eq!(item_status().await, "PURCHASED");
}

#[tokio::test]
async fn a_card_checkout_holds_no_transaction_while_stripe_answers_and_a_stripe_failure_frees_the_cart() {
    // GIVEN a user with a cart, and a Stripe that accepts connections and answers nothing
    // (each attempt times out; all of them give up after 1.5 s)
    let (user, _, _) = user_with_cart().await;
    let name = format!("checkout-stripe-{}", Uuid::now_v7().simple());
    let url = format!("{}?application_name={name}", setting("PARLEY_DATABASE_URL"));
    let stripe = hanging_server().await;
    let env = env_with(&[
        ("PARLEY_DATABASE_URL", &url),
        ("PARLEY_STRIPE_API_BASE", &stripe),
        ("PARLEY_STRIPE_TIMEOUT_MS", "1000"),
        ("PARLEY_STRIPE_DEADLINE_MS", "1500"),
    ]);
    let state = checkout::State::from_source(&env).await.unwrap();
    // WHEN a card checkout is requested, and while Stripe keeps it waiting the database is
    // asked what this state's connections are doing
    let request = bearer_request("POST", "/v1/checkout", &user_token(user), Some(&json!({"method": "card"})));
    let checking_out = tokio::spawn(async move { checkout::handle(&state, request).await });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let states = connection_states(&name).await;
    let db = superuser().await;
    let statuses = order_lines(&db, user).await;
    // THEN the order is committed PENDING, its item held, and no transaction waits on Stripe
    assert!(!states.is_empty(), "the handler has not reached the database yet");
    assert!(states.iter().all(|s| s == "idle"), "a transaction waits on Stripe: {states:?}");
    assert_eq!(statuses, [("PENDING".to_owned(), true)]);
    // AND the request ends in a 503, its order FAILED and its item free again
    let resp = checking_out.await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(order_lines(&db, user).await, [("FAILED".to_owned(), false)]);
    // AND the same cart checks out once Stripe answers
    checkout(user, "card").await.assert_status(201);
}

/// `(order status, item live)` for each item of each of `user`'s orders, oldest first.
async fn order_lines(db: &tokio_postgres::Client, user: Uuid) -> Vec<(String, bool)> {
    db.query(
        "SELECT o.status, i.live FROM orders o JOIN order_items i ON i.order_id = o.id \
         WHERE o.user_id = $1 ORDER BY o.created_at, o.id",
        &[&user],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// A user whose card checkout died after committing its order and before attaching the
/// Checkout Session (as if the function had been killed between the two): (user, order).
async fn checkout_that_died() -> (Uuid, Uuid) {
    let (user, _, _) = user_with_cart().await;
    let started = checkout(user, "card").await;
    started.assert_status(201);
    let order: Uuid = started.body["order_id"].as_str().unwrap().parse().unwrap();
    superuser()
        .await
        .execute(
            "UPDATE orders SET stripe_checkout_session_id = NULL, checkout_url = NULL, checkout_expires_at = NULL \
             WHERE id = $1",
            &[&order],
        )
        .await
        .unwrap();
    (user, order)
}

/// Makes `orders` look opened `minutes` ago.
async fn age(orders: &[Uuid], minutes: i32) {
    superuser()
        .await
        .execute(
            "UPDATE orders SET created_at = now() - make_interval(mins => $2) WHERE id = ANY($1)",
            &[&orders, &minutes],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_checkout_that_died_before_its_session_holds_the_cart_two_minutes_at_most() {
    // GIVEN two users whose card checkout died before its session was attached
    let (next, next_order) = checkout_that_died().await;
    let (swept, swept_order) = checkout_that_died().await;
    // WHEN the first checks out again a minute later
    age(&[next_order, swept_order], 1).await;
    let early = checkout(next, "card").await;
    // THEN the cart is still held: that checkout might still be running
    early.assert_problem(409);
    assert_eq!(early.body["order_id"], next_order.to_string());
    // WHEN the orders are three minutes old
    age(&[next_order, swept_order], 3).await;
    // THEN the next checkout closes the dead order and opens a new one
    let again = checkout(next, "card").await;
    again.assert_status(201);
    assert_ne!(again.body["order_id"], next_order.to_string());
    let db = superuser().await;
    assert_eq!(order_lines(&db, next).await, [("FAILED".to_owned(), false), ("PENDING".to_owned(), true)]);
    // AND the sweep closes the other and frees its item
    let state = sweep_expired::State::from_env().await.unwrap();
    sweep_expired::run(&state).await.unwrap();
    assert_eq!(order_lines(&db, swept).await, [("FAILED".to_owned(), false)]);
    assert_eq!(order_status(&swept_order.to_string()).await, "FAILED");
}

#[tokio::test]
async fn the_api_role_closes_only_its_own_checkouts_that_have_no_session() {
    // GIVEN a user's pending order with a session, and another user's without one
    let (with_session_user, _, _) = user_with_cart().await;
    let with_session: Uuid =
        checkout(with_session_user, "card").await.body["order_id"].as_str().unwrap().parse().unwrap();
    let (other, without_session) = checkout_that_died().await;
    let app = connect(&setting("PARLEY_DATABASE_URL")).await;
    // (each attempt is rolled back: only what it would close is counted)
    let close_as = |user: Option<Uuid>, order: Uuid| {
        let app = &app;
        async move {
            let user = user.map(|u| u.to_string()).unwrap_or_default();
            app.batch_execute(&format!("BEGIN; SELECT set_config('app.user_id', '{user}', true)")).await.unwrap();
            let closed = app.query("SELECT * FROM fail_sessionless_checkouts($1, 10)", &[&order]).await;
            app.batch_execute("ROLLBACK").await.unwrap();
            closed.map(|rows| rows.len())
        }
    };
    // WHEN the API role tries to close an order with a session, or another user's order
    // THEN nothing is closed
    assert_eq!(close_as(Some(with_session_user), with_session).await.unwrap(), 0);
    assert_eq!(close_as(Some(with_session_user), without_session).await.unwrap(), 0);
    // AND without a signed-in user it is refused
    let err = close_as(None, without_session).await.unwrap_err();
    assert_eq!(err.code(), Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE), "{err}");
    // AND the owner may close its own order that has no session
    assert_eq!(close_as(Some(other), without_session).await.unwrap(), 1);
    assert_eq!(order_status(&with_session.to_string()).await, "PENDING");
}
