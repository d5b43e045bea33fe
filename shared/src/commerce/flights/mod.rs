//! Deterministic flight-mention parsing: same text and `today` in, same answer out (no network, clock or randomness).
//!
//! Guarantees:
//! - [`FlightNumber`] is always normalised: upper-case two-character airline designator followed by the
//!   number without leading zeros (`"ba 0117"` → `BA117`);
//! - [`parse`] returns `None` unless the text names a flight number or a full route (origin *and*
//!   destination); a date alone is never a flight;
//! - ordinary English is refused rather than guessed at: `"at 5"`, `"in 10"`, `"me 2"`, `"room 117"`,
//!   `"the to you"` never become flights or routes (see the rules on [`parse`]);
//! - an impossible date (`"31 Feb"`, `"2026-13-01"`) gives `date: None`, never a panic;
//! - the scheduled-flight table ([`route_of`], [`flights_between`]) is compiled in from
//!   `shared/data/timetable.csv` and parsed once, on first use.
//!
//! Parts: [`number`] (flight numbers and airport codes), [`mention`] (the free-text grammar),
//! `dates` (date expressions against an injected day), `tokens` (what both grammars read),
//! [`timetable`] (scheduled routes).

mod dates;
pub mod mention;
pub mod number;
pub mod timetable;
mod tokens;

#[cfg(test)]
mod tests;

pub use mention::{FlightMention, parse};
pub use number::{FlightNumber, parse_airport};
pub use timetable::{flights_between, route_of};
