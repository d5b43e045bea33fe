//! docs/pricing.md's worked examples, both products, checked against the pricing table of the
//! migrated database (not a copy of it): through `shared::commerce::pricing`, and through
//! `POST /v1/quotes` for a departure with the same factors.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, Weekday};
use parley_e2e::*;
use serde_json::json;
use shared::commerce::pricing::{self, Product, Trip};
use uuid::Uuid;

struct Example {
    product: &'static str,
    /// The line of docs/pricing.md that states it.
    doc_line: &'static str,
    premium_cents: i64,
}

/// BA117 LHR → JFK, departing Thursday 24 December 2026, quoted on 22 November 2026.
const EXAMPLES: [Example; 2] = [
    Example {
        product: "PROD_DELAY_60",
        doc_line: "1500 × 1.25 × 1.00 × 0.95 = 1781.25 cents → 1781 cents = USD 17.81",
        premium_cents: 1781,
    },
    Example {
        product: "PROD_DELAY_120",
        doc_line: "1800 × 1.15 × 1.00 × 0.95 = 1966.5 cents → 1967 cents = USD 19.67",
        premium_cents: 1967,
    },
];

/// Both products with their factors, read from the migrated database as the schema owner.
async fn seeded_products() -> HashMap<String, Product> {
    let db = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    let mut products: HashMap<String, Product> = db
        .query("SELECT id, name, coverage_cents, base_premium_cents, currency FROM products", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let id: String = r.get(0);
            (
                id.clone(),
                Product {
                    id,
                    name: r.get(1),
                    coverage_cents: r.get(2),
                    base_premium_cents: r.get(3),
                    currency: r.get::<_, String>(4).trim().to_owned(),
                    factors: HashMap::new(),
                },
            )
        })
        .collect();
    for r in db.query("SELECT product_id, factor, band, multiplier_bp FROM product_price_factors", &[]).await.unwrap() {
        let bp: i32 = r.get(3);
        products.get_mut(&r.get::<_, String>(0)).unwrap().factors.insert((r.get(1), r.get(2)), i64::from(bp));
    }
    products
}

fn lhr_jfk_km() -> f64 {
    use shared::commerce::airports;
    airports::distance_km(airports::get("LHR").unwrap(), airports::get("JFK").unwrap())
}

#[test]
fn docs_pricing_md_states_both_examples() {
    let doc = std::fs::read_to_string(repo().join("docs/pricing.md")).unwrap();
    for ex in &EXAMPLES {
        assert!(doc.contains(ex.product) && doc.contains(ex.doc_line), "docs/pricing.md lacks {:?}", ex.doc_line);
    }
}

#[tokio::test]
async fn the_documented_examples_price_to_the_cent_with_the_seeded_table() {
    let products = seeded_products().await;
    let trip = Trip {
        distance_km: lhr_jfk_km(),
        departure: NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(),
        quoted_on: NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
    };
    assert_eq!(trip.distance_km.round(), 5540.0, "docs/pricing.md: LHR → JFK is 5540 km");
    for ex in &EXAMPLES {
        let product = products.get(ex.product).unwrap_or_else(|| panic!("{} is not seeded", ex.product));
        let price = pricing::price(product, &trip).unwrap();
        assert_eq!(
            (price.distance_band, price.weekday, price.lead_time_band, price.lead_days),
            ("long", "thu", "14-59", 32)
        );
        assert_eq!(price.premium_cents, ex.premium_cents, "{}: {price:?}", ex.product);
    }
}

/// The first Thursday at least 14 days after today (UTC): long haul, Thursday, 14–59 days
/// ahead — the examples' factors, whatever today is.
fn a_thursday_two_weeks_out() -> NaiveDate {
    let mut day = chrono::Utc::now().date_naive() + chrono::Days::new(14);
    while day.weekday() != Weekday::Thu {
        day = day.succ_opt().unwrap();
    }
    day
}

#[tokio::test]
async fn the_quote_endpoint_charges_the_documented_examples() {
    let who = as_user(Uuid::now_v7());
    let departure = a_thursday_two_weeks_out();
    for ex in &EXAMPLES {
        let reply = post_json_as(
            "/v1/quotes",
            &who,
            &json!({"product_id": ex.product,
                    "flight": {"number": "BA117", "origin": "LHR", "destination": "JFK", "departure_date": departure}}),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_eq!(reply.body["premium_cents"], ex.premium_cents, "{}: {}", ex.product, reply.body);
    }
}
