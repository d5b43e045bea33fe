//! Quotes, the quote assistant and the cart, over real HTTP.

use parley_e2e::*;
use serde_json::json;
use uuid::Uuid;

/// A valid departure date a month from today (the horizon is 330 days).
fn in_a_month() -> String {
    days_ahead(30).to_string()
}

async fn quote(who: &[(String, String)], product: &str, number: &str, from: &str, to: &str, date: &str) -> Reply {
    post_json_as(
        "/v1/quotes",
        who,
        &json!({"product_id": product, "flight": {"number": number, "origin": from, "destination": to, "departure_date": date}}),
    )
    .await
}

async fn add_to_cart(who: &[(String, String)], quote_id: &str) -> Reply {
    post_json_as("/v1/cart/items", who, &json!({"quote_id": quote_id})).await
}

fn quote_id(reply: &Reply) -> String {
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["quote_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn chat_to_quote_cards_to_cart_to_claim() {
    // GIVEN an anonymous visitor who names a flight in chat
    let (_, token) = anonymous_session().await;
    let anon = as_anonymous(&token);
    let departure = days_ahead(30);
    let chat = post_message(&anon, &format!("BA117 on {}", spoken(departure)), None).await;
    assert_eq!(chat.status, 201, "{}", chat.body);
    // THEN the assistant replies with one quote card per product, each a real quote
    let reply = &chat.body["reply"];
    assert_eq!(reply["role"], "assistant");
    let cards = reply["ui_elements"].as_array().unwrap();
    assert_eq!(cards.len(), 2, "{reply}");
    let products: Vec<&str> = cards.iter().map(|c| c["product_id"].as_str().unwrap()).collect();
    assert_eq!(products, ["PROD_DELAY_120", "PROD_DELAY_60"]);
    for card in cards {
        assert_eq!(card["type"], "quote_card");
        assert_eq!(card["flight"]["number"], "BA117");
        assert_eq!(card["flight"]["origin"], "LHR");
        assert_eq!(card["flight"]["destination"], "JFK");
        assert_eq!(card["flight"]["departure_date"], departure.to_string());
        assert!(card["premium_cents"].as_i64().unwrap() > 0);
    }
    assert!(reply["content"].as_str().unwrap().contains("BA117"));
    // WHEN one card is added to the cart
    let card = &cards[1];
    let added = add_to_cart(&anon, card["quote_id"].as_str().unwrap()).await;
    assert_eq!(added.status, 201, "{}", added.body);
    // THEN the cart total is the quoted premium
    let cart = get_as("/v1/cart", &anon).await;
    assert_eq!(cart.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(cart.body["total_premium_cents"], card["premium_cents"]);
    assert_eq!(cart.body["currency"], "USD");
    // WHEN a user claims the session THEN the cart is the user's
    let user = Uuid::now_v7();
    let mut both = as_user(user);
    both.extend(anon.clone());
    let claim = post_as("/v1/sessions/claim", &both).await;
    assert_eq!(claim.status, 200, "{}", claim.body);
    assert_eq!((claim.body["quotes_moved"].as_i64(), claim.body["cart_items_moved"].as_i64()), (Some(2), Some(1)));
    let users_cart = get_as("/v1/cart", &as_user(user)).await;
    assert_eq!(users_cart.body["total_premium_cents"], card["premium_cents"]);
    assert_eq!(users_cart.body["items"][0]["quote_id"], card["quote_id"]);
    // (issue 13: a claimed session's token is refused outright)
    get_as("/v1/cart", &anon).await.assert_problem(401);
}

#[tokio::test]
async fn a_message_without_a_flight_gets_a_short_question_and_no_cards() {
    let chat = post_message(&as_user(Uuid::now_v7()), "Hi! What do you sell?", None).await;
    assert_eq!(chat.body["reply"]["ui_elements"], json!([]));
    let question = chat.body["reply"]["content"].as_str().unwrap();
    assert!(question.contains('?') && question.len() < 200, "{question}");
}

#[tokio::test]
async fn no_endpoint_accepts_a_client_price() {
    let who = as_user(Uuid::now_v7());
    let forged = post_json_as(
        "/v1/quotes",
        &who,
        &json!({"product_id": "PROD_DELAY_60", "premium_cents": 1,
                "flight": {"number": "BA117", "origin": "LHR", "destination": "JFK", "departure_date": in_a_month()}}),
    )
    .await;
    forged.assert_problem(422);
    assert!(forged.body["detail"].as_str().unwrap().contains("premium_cents"), "{}", forged.body);
    let real = quote_id(&quote(&who, "PROD_DELAY_60", "BA117", "LHR", "JFK", &in_a_month()).await);
    let forged_cart = post_json_as("/v1/cart/items", &who, &json!({"quote_id": real, "premium_cents": 1})).await;
    forged_cart.assert_problem(422);
}

#[tokio::test]
async fn quotes_are_priced_by_the_server_deterministically() {
    let who = as_user(Uuid::now_v7());
    let a = quote(&who, "PROD_DELAY_60", "BA117", "LHR", "JFK", &in_a_month()).await;
    let b = quote(&who, "PROD_DELAY_60", "ba 117", "lhr", "jfk", &in_a_month()).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["premium_cents"], b.body["premium_cents"]);
    assert_ne!(a.body["quote_id"], b.body["quote_id"]);
    assert_eq!(b.body["flight"]["number"], "BA117");
    assert_eq!(a.body["coverage_cents"], 15000);
    let expires: chrono::DateTime<chrono::Utc> = a.body["expires_at"].as_str().unwrap().parse().unwrap();
    let ttl = expires - chrono::Utc::now();
    assert!(ttl > chrono::Duration::minutes(29) && ttl <= chrono::Duration::minutes(30), "{ttl}");
    // a long-haul flight costs more than a short one on the same day
    let short = quote(&who, "PROD_DELAY_60", "BA1442", "LHR", "EDI", &in_a_month()).await;
    assert_eq!(short.status, 201, "{}", short.body);
    let (short_cents, long_cents) =
        (short.body["premium_cents"].as_i64().unwrap(), a.body["premium_cents"].as_i64().unwrap());
    assert!(short_cents > 0 && short_cents < long_cents, "{short_cents} vs {long_cents}");
}

#[tokio::test]
async fn an_invalid_quote_request_names_every_bad_field() {
    let who = as_user(Uuid::now_v7());
    let reply = quote(&who, "PROD_DELAY_60", "B1", "LONDON", "ZZZ", "2020-01-01").await;
    reply.assert_problem(422);
    let fields: Vec<&str> =
        reply.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["flight.number", "flight.origin", "flight.destination", "flight.departure_date"]);
    let far = days_ahead(400).to_string();
    let too_far = quote(&who, "PROD_DELAY_60", "BA117", "LHR", "JFK", &far).await;
    too_far.assert_problem(422);
    assert_eq!(too_far.body["errors"][0]["field"], "flight.departure_date");
    let no_product = quote(&who, "PROD_NOPE", "BA117", "LHR", "JFK", &in_a_month()).await;
    no_product.assert_problem(422);
    assert_eq!(no_product.body["errors"][0]["field"], "product_id");
    quote(&who, "PROD_DELAY_60", "BA117", "LHR", "LHR", &in_a_month()).await.assert_problem(422);
}

#[tokio::test]
async fn the_same_quote_twice_is_the_same_item() {
    let who = as_user(Uuid::now_v7());
    let q = quote_id(&quote(&who, "PROD_DELAY_120", "AA100", "JFK", "LHR", &in_a_month()).await);
    let first = add_to_cart(&who, &q).await;
    let second = add_to_cart(&who, &q).await;
    assert_eq!((first.status, second.status), (201, 200));
    assert_eq!(first.body, second.body);
    assert_eq!(get_as("/v1/cart", &who).await.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn someone_elses_quote_or_item_is_not_found() {
    let owner = as_user(Uuid::now_v7());
    let q = quote_id(&quote(&owner, "PROD_DELAY_60", "BA117", "LHR", "JFK", &in_a_month()).await);
    let item = add_to_cart(&owner, &q).await.body["id"].as_str().unwrap().to_owned();
    let stranger = as_user(Uuid::now_v7());
    add_to_cart(&stranger, &q).await.assert_problem(404);
    delete_as(&format!("/v1/cart/items/{item}"), &stranger).await.assert_problem(404);
    assert_eq!(get_as("/v1/cart", &owner).await.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_expired_quote_is_gone() {
    let who = as_user(Uuid::now_v7());
    let q = quote_id(&quote(&who, "PROD_DELAY_60", "BA117", "LHR", "JFK", &in_a_month()).await);
    let db = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    db.execute(
        "UPDATE quotes SET created_at = now() - interval '1 hour', expires_at = now() - interval '30 minutes' WHERE id = $1",
        &[&q.parse::<Uuid>().unwrap()],
    )
    .await
    .unwrap();
    add_to_cart(&who, &q).await.assert_problem(410);
}

#[tokio::test]
async fn removing_is_idempotent_and_a_removed_quote_can_be_added_again() {
    let who = as_user(Uuid::now_v7());
    let q = quote_id(&quote(&who, "PROD_DELAY_60", "BA117", "LHR", "JFK", &in_a_month()).await);
    let item = add_to_cart(&who, &q).await.body["id"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let removed = delete_as(&format!("/v1/cart/items/{item}"), &who).await;
        assert_eq!(removed.status, 204, "{}", removed.body);
    }
    assert_eq!(get_as("/v1/cart", &who).await.body["total_premium_cents"], 0);
    let again = add_to_cart(&who, &q).await;
    assert_eq!(again.status, 201);
    assert_ne!(again.body["id"].as_str().unwrap(), item);
    delete_as(&format!("/v1/cart/items/{}", Uuid::now_v7()), &who).await.assert_problem(404);
}

#[tokio::test]
async fn a_cart_holds_at_most_twenty_active_items() {
    let who = as_user(Uuid::now_v7());
    for i in 0..20 {
        let q = quote_id(&quote(&who, "PROD_DELAY_60", ["BA117", "BA115"][i % 2], "LHR", "JFK", &in_a_month()).await);
        assert_eq!(add_to_cart(&who, &q).await.status, 201);
    }
    let q = quote_id(&quote(&who, "PROD_DELAY_60", "VS3", "LHR", "JFK", &in_a_month()).await);
    add_to_cart(&who, &q).await.assert_problem(409);
}

#[tokio::test]
async fn item_status_only_moves_forward_in_the_database() {
    let who = as_user(Uuid::now_v7());
    let q = quote_id(&quote(&who, "PROD_DELAY_60", "BA117", "LHR", "JFK", &in_a_month()).await);
    let item: Uuid = add_to_cart(&who, &q).await.body["id"].as_str().unwrap().parse().unwrap();
    let db = connect(&setting("PARLEY_SERVICE_DATABASE_URL")).await;
    db.execute("UPDATE quote_cart_items SET status = 'REMOVED' WHERE id = $1", &[&item]).await.unwrap();
    let back = db.execute("UPDATE quote_cart_items SET status = 'ACTIVE' WHERE id = $1", &[&item]).await.unwrap_err();
    assert!(back.as_db_error().unwrap().message().contains("cannot move from REMOVED to ACTIVE"), "{back:?}");
}

#[tokio::test]
async fn fifty_concurrent_adds_with_one_idempotency_key_make_one_item_and_one_answer() {
    let who = as_user(Uuid::now_v7());
    let q = quote_id(&quote(&who, "PROD_DELAY_60", "BA117", "LHR", "JFK", &in_a_month()).await);
    let key = Uuid::now_v7().to_string();
    let replies = futures::future::join_all((0..50).map(|_| {
        let mut headers = who.clone();
        headers.push(("idempotency-key".into(), key.clone()));
        let q = q.clone();
        async move { post_json_as("/v1/cart/items", &headers, &json!({"quote_id": q})).await }
    }))
    .await;
    // THEN every answer is the first answer, byte for byte
    let first = &replies[0];
    assert_eq!(first.status, 201, "{}", first.body);
    for r in &replies {
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.raw, first.raw, "a replay differs from the first answer");
        assert_eq!(r.replayable_headers(), first.replayable_headers(), "a replay's headers differ");
        assert_eq!(r.header("content-type"), "application/json");
    }
    assert!(replies.iter().filter(|r| r.header("idempotent-replayed") == "true").count() >= 49);
    assert_eq!(get_as("/v1/cart", &who).await.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn twenty_concurrent_adds_with_different_keys_still_make_one_item() {
    // (Twenty, not fifty: each key is its own DynamoDB record, and the local emulator serves
    // one request at a time; fifty records at once outlast the SDK's 5 s operation timeout on
    // a loaded machine, which tests the emulator, not the cart.)
    let who = as_user(Uuid::now_v7());
    let q = quote_id(&quote(&who, "PROD_DELAY_60", "BA117", "LHR", "JFK", &in_a_month()).await);
    let replies = futures::future::join_all((0..20).map(|_| {
        let mut headers = who.clone();
        headers.push(("idempotency-key".into(), Uuid::now_v7().to_string()));
        let q = q.clone();
        async move { post_json_as("/v1/cart/items", &headers, &json!({"quote_id": q})).await }
    }))
    .await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 19, "{statuses:?}");
    let ids: std::collections::BTreeSet<String> = replies.iter().map(|r| r.body["id"].to_string()).collect();
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn a_reused_key_with_another_body_is_refused() {
    let who = as_user(Uuid::now_v7());
    let a = quote_id(&quote(&who, "PROD_DELAY_60", "BA117", "LHR", "JFK", &in_a_month()).await);
    let b = quote_id(&quote(&who, "PROD_DELAY_120", "BA117", "LHR", "JFK", &in_a_month()).await);
    let mut headers = who.clone();
    headers.push(("idempotency-key".into(), "reused-key".into()));
    assert_eq!(post_json_as("/v1/cart/items", &headers, &json!({"quote_id": a})).await.status, 201);
    let reused = post_json_as("/v1/cart/items", &headers, &json!({"quote_id": b})).await;
    reused.assert_problem(422);
    assert_eq!(reused.body["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(get_as("/v1/cart", &who).await.body["items"].as_array().unwrap().len(), 1, "nothing was added");
    // the same key from another caller is another key
    let other = as_user(Uuid::now_v7());
    let c = quote_id(&quote(&other, "PROD_DELAY_60", "BA117", "LHR", "JFK", &in_a_month()).await);
    let mut other_headers = other.clone();
    other_headers.push(("idempotency-key".into(), "reused-key".into()));
    assert_eq!(post_json_as("/v1/cart/items", &other_headers, &json!({"quote_id": c})).await.status, 201);
}

#[tokio::test]
async fn a_duplicate_while_the_first_is_still_running_is_409() {
    use sha2::{Digest, Sha256};
    use shared::platform::aws::aws_sdk_dynamodb::types::AttributeValue;
    let user = Uuid::now_v7();
    let who = as_user(user);
    let q = quote_id(&quote(&who, "PROD_DELAY_60", "BA117", "LHR", "JFK", &in_a_month()).await);
    // GIVEN a request with this key that is (as far as DynamoDB says) still running
    let key = Uuid::now_v7().to_string();
    let body = json!({"quote_id": q}).to_string();
    let now = chrono::Utc::now();
    let sdk = shared::platform::aws::load().await;
    shared::platform::aws::dynamodb(&sdk)
        .put_item()
        .table_name(setting("PARLEY_TABLE_NAME"))
        .item("pk", AttributeValue::S(format!("idem#cart-add#user:{user}#{}", hex(&Sha256::digest(key.as_bytes())))))
        .item("status", AttributeValue::S("INPROGRESS".into()))
        .item("body_hash", AttributeValue::S(hex(&Sha256::digest(body.as_bytes()))))
        .item("in_progress_until", AttributeValue::N((now.timestamp_millis() + 60_000).to_string()))
        .item("expires_at", AttributeValue::N((now.timestamp() + 3600).to_string()))
        .send()
        .await
        .unwrap();
    // WHEN the duplicate arrives THEN it is told to come back, and nothing is added
    let mut headers = who.clone();
    headers.push(("idempotency-key".into(), key));
    let reply = send(
        client()
            .post(format!("{}/v1/cart/items", base_url()))
            .headers(header_map(&headers))
            .header("content-type", "application/json")
            .body(body),
    )
    .await;
    reply.assert_problem(409);
    assert_eq!(reply.header("retry-after"), "1");
    assert_eq!(get_as("/v1/cart", &who).await.body["items"], json!([]));
}

#[tokio::test]
async fn a_claim_merges_a_duplicate_cart_item_without_error() {
    let date = in_a_month();
    let user = Uuid::now_v7();
    let q_user = quote_id(&quote(&as_user(user), "PROD_DELAY_60", "BA117", "LHR", "JFK", &date).await);
    assert_eq!(add_to_cart(&as_user(user), &q_user).await.status, 201);
    let (_, token) = anonymous_session().await;
    let anon = as_anonymous(&token);
    let q_anon = quote_id(&quote(&anon, "PROD_DELAY_60", "BA117", "LHR", "JFK", &date).await);
    let q_other = quote_id(&quote(&anon, "PROD_DELAY_120", "BA117", "LHR", "JFK", &date).await);
    add_to_cart(&anon, &q_anon).await.assert_status(201);
    add_to_cart(&anon, &q_other).await.assert_status(201);
    let mut both = as_user(user);
    both.extend(anon);
    let claim = post_as("/v1/sessions/claim", &both).await;
    assert_eq!(claim.status, 200, "{}", claim.body);
    assert_eq!(claim.body["cart_items_merged"], 1);
    let cart = get_as("/v1/cart", &as_user(user)).await;
    let quotes: std::collections::BTreeSet<&str> =
        cart.body["items"].as_array().unwrap().iter().map(|i| i["quote_id"].as_str().unwrap()).collect();
    assert_eq!(quotes, [q_user.as_str(), q_other.as_str()].into_iter().collect());
}
