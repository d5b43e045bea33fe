//! Flight numbers and airport codes as the API accepts them.

use std::fmt;

/// A normalised flight number, e.g. `BA117`, `UA900`, `U21234` (airline `U2`, number 1234).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct FlightNumber(String);

impl FlightNumber {
    /// Parses a flight number written on its own: `"BA117"`, `"ba 117"`, `"BA0117"`, `"U2 1234"`, `"9W123"`.
    ///
    /// Grammar: a two-character airline designator (`A-Z`/`0-9`, at least one letter), optional spaces,
    /// then 1 to 4 digits and nothing else (no trailing letter). Note that by this grammar `"B117"` is airline
    /// `B1`, flight 17: that keeps `Display` → `parse` a round trip for `U21234`. Free text is stricter (see
    /// [`parse`]).
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let s = s.trim();
        if s.is_empty() {
            return Err("The flight number is empty.");
        }
        let Some((designator, number)) = s.split_at_checked(2) else {
            return Err("A flight number starts with a two-character airline code, such as BA.");
        };
        Self::from_parts(designator, number.trim_start())
    }

    /// Builds a flight number from an airline designator and its digits, validating both.
    pub(super) fn from_parts(designator: &str, digits: &str) -> Result<Self, &'static str> {
        if designator.len() != 2 || !designator.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("A flight number starts with a two-character airline code, such as BA.");
        }
        if !designator.bytes().any(|b| b.is_ascii_alphabetic()) {
            return Err("The airline code must contain a letter.");
        }
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("A flight number ends with 1 to 4 digits.");
        }
        if digits.len() > 4 {
            return Err("A flight number has at most 4 digits.");
        }
        let number = digits.trim_start_matches('0');
        if number.is_empty() {
            return Err("A flight number cannot be 0.");
        }
        Ok(Self(format!("{}{number}", designator.to_ascii_uppercase())))
    }

    /// The airline designator, e.g. `"BA"`.
    pub fn airline(&self) -> &str {
        &self.0[..2]
    }

    /// The whole normalised flight number, e.g. `"BA117"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Sort key: airline, then number numerically (so BA11 comes before BA117).
    pub(super) fn sort_key(&self) -> (&str, u32) {
        (self.airline(), self.0[2..].parse().unwrap_or(0))
    }
}

impl fmt::Display for FlightNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for FlightNumber {
    type Error = &'static str;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

/// Parses an airport code written on its own: exactly three ASCII letters, returned upper-case. It does not
/// check that the airport is known (quote validation does that with [`crate::commerce::airports::is_known`]).
pub fn parse_airport(s: &str) -> Result<String, &'static str> {
    let s = s.trim();
    if s.len() == 3 && s.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(s.to_ascii_uppercase())
    } else {
        Err("An airport code is exactly three letters, such as LHR.")
    }
}
