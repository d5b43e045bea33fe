//! The quote assistant: answers a chat message with delay-cover quotes when the message
//! names a flight, or with one short question when it does not say enough.
//!
//! Guarantees: deterministic and offline — [`plan`] is a pure function of the text and the
//! date; a reply's quote cards carry real stored quotes (priced by [`crate::commerce::pricing`]),
//! one per active product; a flight that cannot be quoted (past, too far ahead, unknown
//! airport) gets a reply saying why instead of an error.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::commerce::flights::{self, FlightNumber};
use crate::commerce::quotes::{self, Flight, FlightBody, Quote, QuoteRules};
use crate::platform::error::ApiError;
use crate::platform::identity::Caller;

/// What the assistant will do with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Quote this flight.
    Quote(Flight),
    /// Ask the caller for what is missing.
    Ask(String),
}

/// The reply to store and return.
#[derive(Debug, Clone)]
pub struct Reply {
    pub content: String,
    pub ui_elements: Value,
}

const ASK_FOR_FLIGHT: &str =
    "I can quote flight-delay cover. Which flight are you taking? For example: \"BA117 on 24 Dec\".";

/// Reads the message: a complete flight to quote, or the question to ask.
pub fn plan(text: &str, today: NaiveDate, rules: &QuoteRules) -> Plan {
    let Some(mention) = flights::parse(text, today) else { return Plan::Ask(ASK_FOR_FLIGHT.to_owned()) };
    // A route in the text wins; else the timetable's route for the flight number.
    let route = match (&mention.origin, &mention.destination, &mention.number) {
        (Some(o), Some(d), _) => Some((o.clone(), d.clone())),
        (_, _, Some(n)) => flights::route_of(n).map(|(o, d)| (o.to_owned(), d.to_owned())),
        _ => None,
    };
    let number: Option<FlightNumber> = mention.number.clone().or_else(|| {
        let (o, d) = route.as_ref()?;
        flights::flights_between(o, d).into_iter().next()
    });
    let (number, (origin, destination)) = match (number, route) {
        (Some(n), Some(r)) => (n, r),
        (Some(n), None) => return Plan::Ask(format!("Which route is {n}? For example: \"LHR to JFK\".")),
        (None, Some((o, d))) => return Plan::Ask(format!("Which flight number are you taking from {o} to {d}?")),
        (None, None) => return Plan::Ask(ASK_FOR_FLIGHT.to_owned()),
    };
    let Some(date) = mention.date else {
        return Plan::Ask(format!("Which day do you fly {number} from {origin} to {destination}?"));
    };
    let body = FlightBody {
        number: number.to_string(),
        origin,
        destination,
        departure_date: date.format("%Y-%m-%d").to_string(),
    };
    match quotes::validate_flight(&body, today, rules) {
        Ok(flight) => Plan::Quote(flight),
        Err(errors) => {
            let why: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
            Plan::Ask(format!("I can't quote {number} on {date}: {}.", why.join("; ")))
        }
    }
}

/// Builds the reply to `text`, storing one quote per active product when it names a flight.
pub async fn reply(
    tx: &crate::platform::db::Tx,
    caller: &Caller,
    text: &str,
    rules: &QuoteRules,
    now: DateTime<Utc>,
) -> Result<Reply, ApiError> {
    let flight = match plan(text, rules.today(now), rules) {
        Plan::Ask(question) => return Ok(Reply { content: question, ui_elements: json!([]) }),
        Plan::Quote(flight) => flight,
    };
    let mut quotes = Vec::new();
    for product in quotes::products(tx, None).await? {
        quotes.push(quotes::create(tx, caller, &product, &flight, rules, now).await?);
    }
    Ok(Reply { content: describe(&flight, &quotes, rules), ui_elements: cards(&quotes) })
}

fn describe(flight: &Flight, quotes: &[Quote], rules: &QuoteRules) -> String {
    let mut text = format!(
        "Here is delay cover for {} from {} to {} on {}:",
        flight.number,
        flight.origin,
        flight.destination,
        flight.departure_date.format("%a %-d %b %Y")
    );
    for q in quotes {
        text.push_str(&format!(
            "\n- {}: {} for {} cover",
            q.product_name,
            money(q.premium_cents, &q.currency),
            money(q.coverage_cents, &q.currency)
        ));
    }
    text.push_str(&format!("\nAdd one to your cart within {} minutes to keep the price.", rules.ttl.as_secs() / 60));
    text
}

fn cards(quotes: &[Quote]) -> Value {
    Value::Array(
        quotes
            .iter()
            .map(|q| {
                let mut card = serde_json::to_value(q).unwrap_or(Value::Null);
                card["type"] = json!("quote_card");
                card
            })
            .collect(),
    )
}

/// `1781, "USD"` → `USD 17.81`.
pub fn money(cents: i64, currency: &str) -> String {
    format!("{currency} {}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rules() -> QuoteRules {
        QuoteRules { ttl: Duration::from_secs(1800), horizon_days: 330, today_override: None }
    }

    fn today() -> NaiveDate {
        "2026-11-22".parse().unwrap()
    }

    #[test]
    fn a_flight_number_and_date_are_quoted_on_the_timetable_route() {
        match plan("BA117 on 24 Dec", today(), &rules()) {
            Plan::Quote(f) => {
                assert_eq!((f.number.as_str(), f.origin.as_str(), f.destination.as_str()), ("BA117", "LHR", "JFK"));
                assert_eq!(f.departure_date.to_string(), "2026-12-24");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_route_and_date_take_the_timetable_flight() {
        assert!(
            matches!(plan("LHR to JFK tomorrow", today(), &rules()), Plan::Quote(f) if f.departure_date.to_string() == "2026-11-23")
        );
    }

    #[test]
    fn no_flight_asks_for_one() {
        assert_eq!(plan("hello, what do you sell?", today(), &rules()), Plan::Ask(ASK_FOR_FLIGHT.to_owned()));
    }

    #[test]
    fn a_missing_date_is_asked_for() {
        assert!(matches!(plan("I'm on BA117", today(), &rules()), Plan::Ask(q) if q.contains("Which day")));
    }

    #[test]
    fn a_date_beyond_the_horizon_is_explained() {
        let short = QuoteRules { horizon_days: 10, ..rules() };
        assert!(matches!(plan("BA117 on 24 Dec", today(), &short), Plan::Ask(q) if q.contains("within 10 days")));
    }

    #[test]
    fn a_flight_named_with_a_contradicting_route_is_not_quoted() {
        // GIVEN BA117 (LHR→JFK) named with a cheaper route; WHEN planned; THEN no quote
        let plan = plan("BA117 from LHR to CDG on 24 Dec", today(), &rules());
        assert!(matches!(&plan, Plan::Ask(q) if q.contains("BA117 flies to JFK")), "{plan:?}");
    }

    #[test]
    fn a_flight_missing_from_the_timetable_is_not_quoted() {
        let plan = plan("BA1402 from LHR to DUB on 24 Dec", today(), &rules());
        assert!(matches!(&plan, Plan::Ask(q) if q.contains("not a flight in our timetable")), "{plan:?}");
    }

    #[test]
    fn money_is_formatted_from_cents() {
        assert_eq!(money(1781, "USD"), "USD 17.81");
        assert_eq!(money(15000, "USD"), "USD 150.00");
        assert_eq!(money(5, "USD"), "USD 0.05");
    }
}
