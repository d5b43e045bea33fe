//! Server-side pricing of flight-delay cover (`docs/pricing.md` is the specification).
//!
//! Guarantees: deterministic — the same product, route, departure date and quote date
//! always give the same price; integer arithmetic only (cents and basis points, rounded
//! half up once, at the end); every factor applied is returned, so a price can be
//! explained. A client never supplies a price: no API accepts one.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Serialize;

/// A product and its pricing table, as stored in `products` / `product_price_factors`.
#[derive(Debug, Clone)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub coverage_cents: i64,
    pub base_premium_cents: i64,
    pub currency: String,
    /// `(factor, band)` → multiplier in basis points (10 000 = ×1).
    pub factors: HashMap<(String, String), i64>,
}

/// What the price depends on besides the product.
#[derive(Debug, Clone, Copy)]
pub struct Trip {
    pub distance_km: f64,
    pub departure: NaiveDate,
    /// The day the quote is made (UTC).
    pub quoted_on: NaiveDate,
}

/// A price and how it was reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Price {
    pub premium_cents: i64,
    pub base_premium_cents: i64,
    pub distance_band: &'static str,
    pub distance_bp: i64,
    pub weekday: &'static str,
    pub weekday_bp: i64,
    pub lead_time_band: &'static str,
    pub lead_days: i64,
    pub lead_time_bp: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("product {product} has no {factor} multiplier for band {band}")]
pub struct MissingFactor {
    pub product: String,
    pub factor: &'static str,
    pub band: &'static str,
}

/// Great-circle distance bands: short < 1500 km ≤ medium ≤ 4000 km < long.
pub fn distance_band(km: f64) -> &'static str {
    if km < 1500.0 {
        "short"
    } else if km <= 4000.0 {
        "medium"
    } else {
        "long"
    }
}

pub fn weekday_band(date: NaiveDate) -> &'static str {
    match date.weekday() {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

/// Days from quote to departure: 0–2, 3–13, 14–59, 60+.
pub fn lead_time_band(days: i64) -> &'static str {
    match days {
        ..=2 => "0-2",
        3..=13 => "3-13",
        14..=59 => "14-59",
        _ => "60+",
    }
}

/// `base × distance × weekday × lead time`, multipliers in basis points, rounded half up.
pub fn price(product: &Product, trip: &Trip) -> Result<Price, MissingFactor> {
    let factor = |factor: &'static str, band: &'static str| {
        product.factors.get(&(factor.to_owned(), band.to_owned())).copied().ok_or_else(|| MissingFactor {
            product: product.id.clone(),
            factor,
            band,
        })
    };
    let distance_band = distance_band(trip.distance_km);
    let weekday = weekday_band(trip.departure);
    let lead_days = (trip.departure - trip.quoted_on).num_days();
    let lead_time_band = lead_time_band(lead_days);
    let (distance_bp, weekday_bp, lead_time_bp) =
        (factor("distance_band", distance_band)?, factor("weekday", weekday)?, factor("lead_time", lead_time_band)?);
    const SCALE: i128 = 10_000 * 10_000 * 10_000;
    let raw = i128::from(product.base_premium_cents)
        * i128::from(distance_bp)
        * i128::from(weekday_bp)
        * i128::from(lead_time_bp);
    let premium_cents = ((raw + SCALE / 2) / SCALE) as i64;
    Ok(Price {
        premium_cents,
        base_premium_cents: product.base_premium_cents,
        distance_band,
        distance_bp,
        weekday,
        weekday_bp,
        lead_time_band,
        lead_days,
        lead_time_bp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed pricing table of `PROD_DELAY_60` (migrations/V3).
    fn delay_60() -> Product {
        let mut factors = HashMap::new();
        for (f, b, bp) in [
            ("distance_band", "short", 9000),
            ("distance_band", "medium", 10000),
            ("distance_band", "long", 12500),
            ("weekday", "mon", 10500),
            ("weekday", "tue", 10000),
            ("weekday", "wed", 10000),
            ("weekday", "thu", 10000),
            ("weekday", "fri", 11500),
            ("weekday", "sat", 9500),
            ("weekday", "sun", 11000),
            ("lead_time", "0-2", 12000),
            ("lead_time", "3-13", 10000),
            ("lead_time", "14-59", 9500),
            ("lead_time", "60+", 9000),
        ] {
            factors.insert((f.to_owned(), b.to_owned()), bp);
        }
        Product {
            id: "PROD_DELAY_60".into(),
            name: "Delay cover 60".into(),
            coverage_cents: 15000,
            base_premium_cents: 1500,
            currency: "USD".into(),
            factors,
        }
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_documented_example_prices_to_the_cent() {
        // docs/pricing.md: LHR→JFK (≈5540 km, long), Thu 24 Dec 2026, quoted 22 Nov 2026 (32 days)
        let p = price(
            &delay_60(),
            &Trip { distance_km: 5540.0, departure: date("2026-12-24"), quoted_on: date("2026-11-22") },
        )
        .unwrap();
        // 1500 × 1.25 × 1.00 × 0.95 = 1781.25 → 1781
        assert_eq!((p.distance_band, p.weekday, p.lead_time_band, p.lead_days), ("long", "thu", "14-59", 32));
        assert_eq!(p.premium_cents, 1781);
    }

    #[test]
    fn rounding_is_half_up_once() {
        // 1500 × 0.90 × 1.15 × 1.20 = 1863.0 exactly; 1500 × 1.25 × 1.05 × 0.95 = 1870.3125 → 1870
        let short_fri_soon = Trip { distance_km: 340.0, departure: date("2026-11-27"), quoted_on: date("2026-11-25") };
        assert_eq!(price(&delay_60(), &short_fri_soon).unwrap().premium_cents, 1863);
        let long_mon = Trip { distance_km: 9000.0, departure: date("2026-12-28"), quoted_on: date("2026-11-22") };
        assert_eq!(price(&delay_60(), &long_mon).unwrap().premium_cents, 1870);
    }

    #[test]
    fn the_same_input_gives_the_same_price() {
        let t = Trip { distance_km: 2000.0, departure: date("2027-03-01"), quoted_on: date("2026-11-22") };
        assert_eq!(price(&delay_60(), &t), price(&delay_60(), &t));
    }

    #[test]
    fn bands_have_documented_edges() {
        assert_eq!(
            [distance_band(1499.9), distance_band(1500.0), distance_band(4000.0), distance_band(4000.1)],
            ["short", "medium", "medium", "long"]
        );
        assert_eq!(
            [lead_time_band(2), lead_time_band(3), lead_time_band(13), lead_time_band(14), lead_time_band(60)],
            ["0-2", "3-13", "3-13", "14-59", "60+"]
        );
    }

    #[test]
    fn a_missing_factor_is_an_error_not_a_guess() {
        let mut p = delay_60();
        p.factors.remove(&("weekday".to_owned(), "sat".to_owned()));
        let t = Trip { distance_km: 100.0, departure: date("2026-11-28"), quoted_on: date("2026-11-22") };
        assert_eq!(price(&p, &t).unwrap_err().band, "sat");
    }
}
