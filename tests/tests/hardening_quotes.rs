//! Issue 13, price forgery by route: the route of a known flight comes from the timetable.

use parley_e2e::*;
use serde_json::json;
use uuid::Uuid;

fn in_a_month() -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(30)).to_string()
}

async fn quote(who: &[(String, String)], number: &str, from: &str, to: &str) -> Reply {
    let flight = json!({"number": number, "origin": from, "destination": to, "departure_date": in_a_month()});
    post_json_as("/v1/quotes", who, &json!({"product_id": "PROD_DELAY_60", "flight": flight})).await
}

#[tokio::test]
async fn a_known_flight_quoted_on_a_cheaper_route_is_refused_naming_the_field() {
    // GIVEN a caller and BA117, which the timetable flies LHR→JFK (long haul)
    let who = as_user(Uuid::now_v7());
    // WHEN they ask for BA117 as LHR→CDG (short haul, cheaper)
    let forged = quote(&who, "BA117", "LHR", "CDG").await;
    // THEN it is a 422 on the destination, and no cheaper quote exists
    forged.assert_problem(422);
    assert_eq!(forged.body["errors"][0]["field"], "flight.destination", "{}", forged.body);
    assert_eq!(forged.body["errors"].as_array().unwrap().len(), 1);
    // AND the true route still prices as before
    assert_eq!(quote(&who, "BA117", "LHR", "JFK").await.status, 201);
}

#[tokio::test]
async fn a_flight_the_timetable_does_not_list_is_refused() {
    let who = as_user(Uuid::now_v7());
    let unknown = quote(&who, "BA1402", "LHR", "DUB").await;
    unknown.assert_problem(422);
    assert_eq!(unknown.body["errors"][0]["field"], "flight.number", "{}", unknown.body);
}

#[tokio::test]
async fn the_assistant_does_not_quote_a_flight_on_a_route_it_does_not_fly() {
    // GIVEN an anonymous visitor; WHEN the text names BA117 with a cheaper route
    let (_, token) = anonymous_session().await;
    let chat = post_message(&as_anonymous(&token), "BA117 from LHR to CDG on 24 Dec", None).await;
    // THEN the reply explains, with no quote cards
    assert_eq!(chat.status, 201, "{}", chat.body);
    assert_eq!(chat.body["reply"]["ui_elements"], json!([]), "{}", chat.body);
    assert!(chat.body["reply"]["content"].as_str().unwrap().contains("JFK"), "{}", chat.body);
}
