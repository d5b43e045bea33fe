//! Quotes: validating a quote request, pricing it on the server and storing it.
//!
//! Guarantees: a quote's price comes only from [`crate::commerce::pricing`] and the stored pricing
//! table — the request has no price field, and unknown fields are refused; a quote is
//! owned by its caller (row-level security) and expires (`PARLEY_QUOTE_TTL_MINUTES`,
//! default 30); every validation problem is reported per field, together.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::commerce::airports;
use crate::commerce::flights::{self, FlightNumber};
use crate::commerce::pricing::{self, Product, Trip};
use crate::platform::config::{self, ConfigError, Source};
use crate::platform::db::{ToSql, Tx, Type};
use crate::platform::error::{ApiError, FieldError};
use crate::platform::identity::Caller;

/// Quote settings, read at cold start.
#[derive(Debug, Clone, Copy)]
pub struct QuoteRules {
    /// How long a quote can be added to the cart.
    pub ttl: Duration,
    /// How far ahead a departure may be.
    pub horizon_days: i64,
    /// The calendar day treated as today instead of the clock's (`PARLEY_TODAY`), so the
    /// date-dependent paths can be exercised as on any day of the year. Tests and local
    /// runs only: refused when `PARLEY_STAGE` is `prod`.
    pub today_override: Option<NaiveDate>,
}

impl QuoteRules {
    /// `PARLEY_QUOTE_TTL_MINUTES` (30) and `PARLEY_QUOTE_HORIZON_DAYS` (330).
    pub fn from_env(src: &impl Source) -> Result<Self, ConfigError> {
        let ttl: u64 = config::parsed_or(src, "PARLEY_QUOTE_TTL_MINUTES", 30)?;
        let horizon_days: i64 = config::parsed_or(src, "PARLEY_QUOTE_HORIZON_DAYS", 330)?;
        if !(1..=24 * 60).contains(&ttl) {
            return Err(ConfigError::new("PARLEY_QUOTE_TTL_MINUTES", "must be from 1 to 1440"));
        }
        if !(1..=366).contains(&horizon_days) {
            return Err(ConfigError::new("PARLEY_QUOTE_HORIZON_DAYS", "must be from 1 to 366"));
        }
        let today_override = match config::optional(src, "PARLEY_TODAY") {
            None => None,
            Some(_) if config::optional(src, "PARLEY_STAGE").as_deref() == Some("prod") => {
                return Err(ConfigError::new("PARLEY_TODAY", "must not be set when PARLEY_STAGE is prod"));
            }
            Some(day) => Some(
                day.parse::<NaiveDate>()
                    .map_err(|_| ConfigError::new("PARLEY_TODAY", "must be a date like 2026-12-26"))?,
            ),
        };
        Ok(Self { ttl: Duration::from_secs(ttl * 60), horizon_days, today_override })
    }

    /// The day quotes are made on: `PARLEY_TODAY` when set, else the UTC date of `now`.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        self.today_override.unwrap_or_else(|| now.date_naive())
    }
}

/// `POST /v1/quotes` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteBody {
    pub product_id: String,
    pub flight: FlightBody,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlightBody {
    pub number: String,
    pub origin: String,
    pub destination: String,
    pub departure_date: String,
}

/// A flight that passed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flight {
    pub number: FlightNumber,
    pub origin: String,
    pub destination: String,
    pub departure_date: NaiveDate,
}

/// Checks a flight; every problem is reported, each under its field name.
pub fn validate_flight(body: &FlightBody, today: NaiveDate, rules: &QuoteRules) -> Result<Flight, Vec<FieldError>> {
    let mut errors = Vec::new();
    let number = FlightNumber::parse(&body.number).map_err(|m| errors.push(FieldError::new("flight.number", m))).ok();
    let mut airport = |field: &str, code: &str| match flights::parse_airport(code) {
        Err(m) => {
            errors.push(FieldError::new(field, m));
            None
        }
        Ok(code) if airports::get(&code).is_none() => {
            errors.push(FieldError::new(field, format!("{code} is not an airport we cover yet")));
            None
        }
        Ok(code) => Some(code),
    };
    let origin = airport("flight.origin", &body.origin);
    let destination = airport("flight.destination", &body.destination);
    if origin.is_some() && origin == destination {
        errors.push(FieldError::new("flight.destination", "must differ from the origin"));
    }
    // The price depends on the route and the cover pays on the flight number, so the route
    // is the timetable's, never the client's: a flight we do not know is refused (we could
    // not tell its distance), and a route that contradicts the timetable is an error on the
    // field that contradicts it (docs/pricing.md, "Which route is priced").
    if let Some(n) = &number {
        match flights::route_of(n) {
            None => errors.push(FieldError::new("flight.number", format!("{n} is not a flight in our timetable"))),
            Some((o, d)) => {
                if origin.as_deref().is_some_and(|origin| origin != o) {
                    errors.push(FieldError::new("flight.origin", format!("{n} departs from {o}")));
                }
                if destination.as_deref().is_some_and(|destination| destination != d) {
                    errors.push(FieldError::new("flight.destination", format!("{n} flies to {d}")));
                }
            }
        }
    }
    let date = match NaiveDate::parse_from_str(body.departure_date.trim(), "%Y-%m-%d") {
        Err(_) => {
            errors.push(FieldError::new("flight.departure_date", "must be a date like 2026-12-24"));
            None
        }
        Ok(d) if d < today => {
            errors.push(FieldError::new("flight.departure_date", "is in the past"));
            None
        }
        Ok(d) if (d - today).num_days() > rules.horizon_days => {
            errors.push(FieldError::new(
                "flight.departure_date",
                format!("must be within {} days from today", rules.horizon_days),
            ));
            None
        }
        Ok(d) => Some(d),
    };
    match (number, origin, destination, date) {
        (Some(number), Some(origin), Some(destination), Some(departure_date)) if errors.is_empty() => {
            Ok(Flight { number, origin, destination, departure_date })
        }
        _ => Err(errors),
    }
}

/// A stored quote, as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Quote {
    pub quote_id: Uuid,
    pub product_id: String,
    pub product_name: String,
    pub flight: Flight,
    pub premium_cents: i64,
    pub coverage_cents: i64,
    pub currency: String,
    pub expires_at: DateTime<Utc>,
}

/// The active products with their pricing tables, `id` order; `only` narrows to one.
pub async fn products(tx: &Tx, only: Option<&str>) -> Result<Vec<Product>, ApiError> {
    let only = only.map(str::to_owned);
    let filter = [(&only as &(dyn ToSql + Sync), Type::TEXT)];
    let (products, factors) = tokio::try_join!(
        tx.query(
            "SELECT id, name, coverage_cents, base_premium_cents, currency FROM products \
             WHERE active AND ($1::text IS NULL OR id = $1) ORDER BY id",
            &filter,
        ),
        tx.query(
            "SELECT product_id, factor, band, multiplier_bp FROM product_price_factors \
             WHERE $1::text IS NULL OR product_id = $1",
            &filter,
        ),
    )?;
    let mut tables: HashMap<String, HashMap<(String, String), i64>> = HashMap::new();
    for f in &factors {
        tables.entry(f.get(0)).or_default().insert((f.get(1), f.get(2)), i64::from(f.get::<_, i32>(3)));
    }
    Ok(products
        .iter()
        .map(|p| {
            let id: String = p.get(0);
            Product {
                factors: tables.remove(&id).unwrap_or_default(),
                id,
                name: p.get(1),
                coverage_cents: p.get(2),
                base_premium_cents: p.get(3),
                currency: p.get::<_, String>(4).trim().to_owned(),
            }
        })
        .collect())
}

/// Prices `flight` for `product` and stores the quote for `caller`.
pub async fn create(
    tx: &Tx,
    caller: &Caller,
    product: &Product,
    flight: &Flight,
    rules: &QuoteRules,
    now: DateTime<Utc>,
) -> Result<Quote, ApiError> {
    let (Some(from), Some(to)) = (airports::get(&flight.origin), airports::get(&flight.destination)) else {
        return Err(ApiError::internal()); // validate_flight checked both
    };
    let trip = Trip {
        distance_km: airports::distance_km(from, to),
        departure: flight.departure_date,
        quoted_on: rules.today(now),
    };
    let price = pricing::price(product, &trip).map_err(|e| ApiError::internal().with_source(e))?;
    let now = now.trunc_subsecs(6);
    let expires_at = now + rules.ttl;
    let id = Uuid::now_v7();
    let (owner_user, owner_anon) = caller.owner_columns();
    let breakdown = serde_json::to_value(&price).map_err(|e| ApiError::internal().with_source(e))?;
    let number = flight.number.as_str();
    tx.execute(
        "INSERT INTO quotes (id, owner_user_id, owner_anonymous_session_id, product_id, flight_number, origin, destination, \
         departure_date, premium_cents, coverage_cents, currency, pricing, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        &[
            (&id, Type::UUID),
            (&owner_user, Type::UUID),
            (&owner_anon, Type::UUID),
            (&product.id, Type::TEXT),
            (&number, Type::TEXT),
            (&flight.origin, Type::BPCHAR),
            (&flight.destination, Type::BPCHAR),
            (&flight.departure_date, Type::DATE),
            (&price.premium_cents, Type::INT8),
            (&product.coverage_cents, Type::INT8),
            (&product.currency, Type::BPCHAR),
            (&breakdown, Type::JSONB),
            (&now, Type::TIMESTAMPTZ),
            (&expires_at, Type::TIMESTAMPTZ),
        ],
    )
    .await?;
    Ok(Quote {
        quote_id: id,
        product_id: product.id.clone(),
        product_name: product.name.clone(),
        flight: flight.clone(),
        premium_cents: price.premium_cents,
        coverage_cents: product.coverage_cents,
        currency: product.currency.clone(),
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parley_today_replaces_the_clocks_day_and_nothing_else() {
        // GIVEN PARLEY_TODAY
        let rules = QuoteRules::from_env(&env(&[("PARLEY_TODAY", "2028-02-29")])).unwrap();
        // THEN it is today whatever the clock says; without it the clock decides
        let now = Utc::now();
        assert_eq!(rules.today(now), NaiveDate::from_ymd_opt(2028, 2, 29).unwrap());
        assert_eq!(QuoteRules::from_env(&env(&[])).unwrap().today(now), now.date_naive());
    }

    #[test]
    fn parley_today_is_refused_in_production_and_named_when_malformed() {
        let prod = QuoteRules::from_env(&env(&[("PARLEY_TODAY", "2026-12-26"), ("PARLEY_STAGE", "prod")]));
        assert!(prod.unwrap_err().to_string().contains("PARLEY_TODAY"));
        let bad = QuoteRules::from_env(&env(&[("PARLEY_TODAY", "26/12/2026")]));
        assert!(bad.unwrap_err().to_string().contains("PARLEY_TODAY"));
    }

    fn rules() -> QuoteRules {
        QuoteRules { ttl: Duration::from_secs(1800), horizon_days: 330, today_override: None }
    }

    fn body(number: &str, origin: &str, destination: &str) -> FlightBody {
        FlightBody {
            number: number.into(),
            origin: origin.into(),
            destination: destination.into(),
            departure_date: "2026-12-24".into(),
        }
    }

    fn fields(result: Result<Flight, Vec<FieldError>>) -> Vec<String> {
        result.expect_err("should be refused").into_iter().map(|e| e.field).collect()
    }

    const TODAY: &str = "2026-11-22";

    #[test]
    fn a_known_flight_on_its_timetable_route_is_accepted() {
        // GIVEN BA117, scheduled LHR→JFK; WHEN it is quoted on that route; THEN it validates
        let f = validate_flight(&body("BA117", "LHR", "JFK"), TODAY.parse().unwrap(), &rules()).unwrap();
        assert_eq!((f.origin.as_str(), f.destination.as_str()), ("LHR", "JFK"));
    }

    #[test]
    fn a_known_flight_on_a_cheaper_route_names_the_contradicting_field() {
        // GIVEN BA117 (LHR→JFK, long haul); WHEN a client names LHR→CDG (short haul, cheaper)
        // THEN the destination is refused, not priced
        let today = TODAY.parse().unwrap();
        assert_eq!(fields(validate_flight(&body("BA117", "LHR", "CDG"), today, &rules())), ["flight.destination"]);
        assert_eq!(fields(validate_flight(&body("BA117", "CDG", "JFK"), today, &rules())), ["flight.origin"]);
        assert_eq!(
            fields(validate_flight(&body("BA117", "JFK", "LHR"), today, &rules())),
            ["flight.origin", "flight.destination"]
        );
    }

    #[test]
    fn a_flight_missing_from_the_timetable_is_refused() {
        // GIVEN a well-formed flight number the timetable does not list
        // WHEN it is quoted on any route; THEN the number is refused (docs/pricing.md)
        let today = TODAY.parse().unwrap();
        assert_eq!(fields(validate_flight(&body("BA1402", "LHR", "DUB"), today, &rules())), ["flight.number"]);
    }
}
