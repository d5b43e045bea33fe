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

use std::fmt;
use std::sync::LazyLock;

use chrono::{Datelike, Days, NaiveDate, Weekday};

use crate::airports;

// ---------------------------------------------------------------------------------------------------------
// Flight numbers
// ---------------------------------------------------------------------------------------------------------

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
    fn from_parts(designator: &str, digits: &str) -> Result<Self, &'static str> {
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
    fn sort_key(&self) -> (&str, u32) {
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
/// check that the airport is known (quote validation does that with [`airports::is_known`]).
pub fn parse_airport(s: &str) -> Result<String, &'static str> {
    let s = s.trim();
    if s.len() == 3 && s.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(s.to_ascii_uppercase())
    } else {
        Err("An airport code is exactly three letters, such as LHR.")
    }
}

// ---------------------------------------------------------------------------------------------------------
// Free-text mentions
// ---------------------------------------------------------------------------------------------------------

/// What a message says about a flight. Every part is optional; [`parse`] guarantees a number or a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlightMention {
    pub number: Option<FlightNumber>,
    pub origin: Option<String>,
    pub destination: Option<String>,
    pub date: Option<NaiveDate>,
}

/// Airlines whose designator may be written in lower case without the word "flight" (`"ba117"`, `"ua 900"`).
const KNOWN_AIRLINES: &[&str] = &[
    "BA", "UA", "AA", "DL", "LH", "AF", "KL", "EK", "QR", "SQ", "QF", "CX", "NH", "JL", "AC", "IB", "AZ", "LX", "OS",
    "SK", "AY", "TK", "TP", "EI", "VS", "U2", "FR", "W6", "9W", "AI", "EY", "NZ", "SA", "MS", "KE", "OZ", "CA", "MU",
    "TG", "MH", "LA", "AV", "AM", "WN", "B6", "AS", "NK", "F9",
];

/// Two-letter words and abbreviations that are routinely followed by a number in ordinary text ("AT 5",
/// "IN 10", "9 AM 24 Dec", "ID 1234"). Written apart from the digits they are a flight designator only after
/// the word "flight"; glued to the digits ("AS100") they still count.
const NOT_A_DESIGNATOR: &[&str] = &[
    "AM", "AN", "AS", "AT", "BE", "BY", "DO", "GO", "HE", "HI", "IF", "IN", "IS", "IT", "ME", "MY", "NO", "OF", "OH",
    "OK", "ON", "OR", "SO", "TO", "UP", "US", "WE", "PM", "ID", "PG", "PS", "TV", "UK", "CH", "NR", "RM", "ST", "PT",
];

/// Three-letter English words that are never read as airport codes unless written in capitals *and* known
/// (so "MAN to JFK" is Manchester, "man to man" is nothing, "THE TO YOU" is nothing).
const COMMON_WORDS: &[&str] = &[
    // Words that are also airport codes in our table.
    "ADD", "BOG", "DEN", "DOH", "GIG", "HAM", "LAX", "LOS", "MAD", "MAN", "PER", "SAN", "SEA", "SIN", "VIE",
    // Words that shouting text would otherwise turn into unknown airports.
    "AND", "ANY", "ARE", "ASK", "BED", "BIG", "BUT", "BUY", "CAN", "CAR", "DAY", "DID", "DOG", "EAT", "END", "ETA",
    "FAR", "FEW", "FLY", "FOR", "GET", "GOT", "HAD", "HAS", "HER", "HIM", "HIS", "HOW", "ITS", "JOB", "LET", "LOT",
    "MAY", "NEW", "NOT", "NOW", "OFF", "OLD", "ONE", "OUR", "OUT", "OWN", "PAY", "PUT", "RUN", "SAW", "SAY", "SEE",
    "SET", "SHE", "SIT", "TEN", "THE", "TOO", "TRY", "TWO", "USE", "WAS", "WAY", "WHO", "WHY", "YES", "YET", "YOU",
];

/// Reads a flight mention out of free text. `today` anchors every relative date.
///
/// Returns `None` when the text names no flight at all: neither a flight number nor a full route. A date
/// on its own ("see you on 24 Dec") is not a flight.
///
/// **Flight numbers** (the first one wins): a designator and 1–4 digits, glued or apart (`"BA117"`,
/// `"BA 117"`, `"UA900."`). Accepted when any of these holds:
/// - it follows the word "flight"/"flt" (optionally "flight number"/"flight no"): `"flight zz 12"`;
/// - the designator is written in capitals (`"ZZ123"`, `"ZZ 123"`), unless written apart and it is a
///   common word or abbreviation (`"AT 5"`, `"9 AM 24 Dec"`; the list is in this module);
/// - the designator is in the known-airline list (`"ba117"`, `"lh 400"`), with the same exception.
///
/// A designator ending in a digit must be written apart from the number (`"U2 1234"`), because glued it
/// reads as aircraft or product names (`"A380"`, `"F16"`).
///
/// **Routes**: `"LHR to JFK"`, `"from LHR to JFK"`, `"LHR-JFK"`, `"LHR – JFK"`, `"LHR→JFK"`, `"LHR -> JFK"`,
/// `"LHR > JFK"` (`"LHR/JFK"` is not a route). A code counts when [`airports::is_known`] knows it, in any case;
/// common English words among them (`"man"`, `"sin"`) only count in capitals. In the explicit `"XXX to YYY"`
/// form, unknown codes written in capitals count too (quote validation rejects them later). With a flight
/// number, a lone `"from LHR"` or `"to JFK"` also fills in that end of the route.
///
/// **Dates** (the first date expression wins; an impossible one gives `date: None`): `"2026-12-24"`,
/// `"24/12/2026"`, `"24/12/26"`, `"24/12"` (day first), `"24 Dec"`, `"24 December 2026"`, `"Dec 24"`,
/// `"December 24th, 2026"`, `"24th of December"`, `"the 24th"`/`"on 24th"` (the next 24th of a month),
/// `"today"`, `"tonight"`, `"tomorrow"`, `"the day after tomorrow"`, `"Friday"`/`"on Friday"`/`"this Friday"`
/// (the next Friday on or after today, so today if today is Friday), `"next Friday"` (strictly after today),
/// `"in 3 days"`, `"in 2 weeks"`. A date without a year is its next occurrence on or after today.
pub fn parse(text: &str, today: NaiveDate) -> Option<FlightMention> {
    let toks = tokenize(text);
    let number = (0..toks.len()).find_map(|i| flight_at(&toks, i));
    let (origin, destination) = match find_route(&toks) {
        Some((origin, destination)) => (Some(origin), Some(destination)),
        None if number.is_some() => partial_route(&toks),
        None => return None,
    };
    let date = (0..toks.len()).find_map(|i| date_at(&toks, i, today)).flatten();
    Some(FlightMention { number, origin, destination, date })
}

/// A word (a run of ASCII letters and digits) or a single punctuation mark, with its byte span so we can
/// tell `"24/12"` (touching) from `"24 / 12"`.
#[derive(Debug, Clone, Copy)]
struct Tok<'a> {
    text: &'a str,
    start: usize,
    end: usize,
}

impl Tok<'_> {
    fn is_word(&self) -> bool {
        self.text.bytes().all(|b| b.is_ascii_alphanumeric())
    }

    /// The text if this token is a word.
    fn word(&self) -> Option<&str> {
        self.is_word().then_some(self.text)
    }

    /// Case-insensitive comparison with a word or mark.
    fn is(&self, s: &str) -> bool {
        self.text.eq_ignore_ascii_case(s)
    }

    /// The value if this token is 1 to `max_len` digits.
    fn digits(&self, max_len: usize) -> Option<u32> {
        let ok = (1..=max_len).contains(&self.text.len()) && self.text.bytes().all(|b| b.is_ascii_digit());
        if ok { self.text.parse().ok() } else { None }
    }
}

/// Splits text into words and punctuation marks; whitespace separates and is dropped. `"->"` and `"=>"`
/// become one arrow token.
fn tokenize(text: &str) -> Vec<Tok<'_>> {
    let mut toks = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let mut end = start + c.len_utf8();
        if c.is_ascii_alphanumeric() {
            while let Some(&(i, next)) = chars.peek() {
                if !next.is_ascii_alphanumeric() {
                    break;
                }
                end = i + next.len_utf8();
                chars.next();
            }
        } else if c.is_whitespace() {
            continue;
        } else if (c == '-' || c == '=') && chars.peek().is_some_and(|&(_, next)| next == '>') {
            chars.next();
            end += 1;
        }
        toks.push(Tok { text: &text[start..end], start, end });
    }
    toks
}

/// Whether `toks[i]` starts right where `toks[i - 1]` ends (no whitespace between).
fn touches_previous(toks: &[Tok], i: usize) -> bool {
    i > 0 && i < toks.len() && toks[i - 1].end == toks[i].start
}

/// Whether a word is written in capitals (digits allowed, at least one letter): `"BA"`, `"9W"`, not `"Ba"`.
fn is_capitals(word: &str) -> bool {
    word.bytes().any(|b| b.is_ascii_alphabetic()) && !word.bytes().any(|b| b.is_ascii_lowercase())
}

/// Whether the word before `toks[i]` is "flight"/"flt", allowing "number"/"no"/"#"/":" in between.
fn follows_flight_word(toks: &[Tok], i: usize) -> bool {
    for tok in toks[..i].iter().rev() {
        if tok.is("flight") || tok.is("flt") {
            return true;
        }
        if !["number", "no", "num", "nr", "#", ".", ":"].iter().any(|filler| tok.is(filler)) {
            return false;
        }
    }
    false
}

/// The flight number starting at `toks[i]`, if the rules on [`parse`] accept one there.
fn flight_at(toks: &[Tok], i: usize) -> Option<FlightNumber> {
    let word = toks[i].word()?;
    // After an apostrophe the "word" is a contraction tail ("WE'RE 20"), never a designator.
    if touches_previous(toks, i) && matches!(toks[i - 1].text, "'" | "’") {
        return None;
    }
    let flight_word = follows_flight_word(toks, i);
    let known = |designator: &str| KNOWN_AIRLINES.contains(&designator.to_ascii_uppercase().as_str());

    // Glued: "BA117", "ba0117", "9W123".
    if let Some((designator, digits)) = word.split_at_checked(2)
        && (1..=4).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        let ends_in_digit = designator.as_bytes()[1].is_ascii_digit();
        let accepted = flight_word || (!ends_in_digit && (is_capitals(designator) || known(designator)));
        return if accepted { FlightNumber::from_parts(designator, digits).ok() } else { None };
    }

    // Apart: "BA 117", "ua 900", "U2 1234".
    if word.len() == 2 {
        let digits = toks.get(i + 1)?;
        digits.digits(4)?;
        // "12:30", "24/12", "10.5" are times, dates and amounts, not flight numbers.
        let continues = toks.get(i + 2).is_some_and(|mark| mark.start == digits.end && matches!(mark.text, ":" | "/"))
            || (toks.get(i + 2).is_some_and(|mark| mark.start == digits.end && mark.text == ".")
                && touches_previous(toks, i + 3));
        if continues {
            return None;
        }
        let common = NOT_A_DESIGNATOR.contains(&word.to_ascii_uppercase().as_str());
        let accepted = flight_word || (!common && (is_capitals(word) || known(word)));
        return if accepted { FlightNumber::from_parts(word, digits.text).ok() } else { None };
    }
    None
}

/// The airport code `tok` names, if any. `allow_unknown` admits unknown codes written in capitals (only the
/// explicit "XXX to YYY" form passes `true`).
fn airport_code(tok: &Tok, allow_unknown: bool) -> Option<String> {
    let word = tok.word()?;
    if word.len() != 3 || !word.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let code = word.to_ascii_uppercase();
    let known = airports::is_known(&code);
    let common = COMMON_WORDS.contains(&code.as_str());
    let accepted = if word == code { known || (allow_unknown && !common) } else { known && !common };
    accepted.then_some(code)
}

/// The first full route: "A to B" (unknown capitals allowed) or "A <dash/arrow> B" (known airports only).
fn find_route(toks: &[Tok]) -> Option<(String, String)> {
    toks.windows(3).find_map(|w| {
        let (a, sep, b) = (&w[0], &w[1], &w[2]);
        let allow_unknown = if sep.is("to") {
            true
        } else if matches!(sep.text, "-" | "–" | "—" | "→" | "->" | "=>" | ">") {
            false
        } else {
            return None;
        };
        Some((airport_code(a, allow_unknown)?, airport_code(b, allow_unknown)?))
    })
}

/// One end of a route, for texts that also name a flight: "from LHR" and/or "to JFK" (known airports only).
fn partial_route(toks: &[Tok]) -> (Option<String>, Option<String>) {
    let after =
        |word: &str| toks.windows(2).find_map(|w| if w[0].is(word) { airport_code(&w[1], false) } else { None });
    (after("from"), after("to"))
}

// ---------------------------------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------------------------------

const MONTHS: &[(&str, u32)] = &[
    ("jan", 1),
    ("january", 1),
    ("feb", 2),
    ("february", 2),
    ("mar", 3),
    ("march", 3),
    ("apr", 4),
    ("april", 4),
    ("may", 5),
    ("jun", 6),
    ("june", 6),
    ("jul", 7),
    ("july", 7),
    ("aug", 8),
    ("august", 8),
    ("sep", 9),
    ("sept", 9),
    ("september", 9),
    ("oct", 10),
    ("october", 10),
    ("nov", 11),
    ("november", 11),
    ("dec", 12),
    ("december", 12),
];

/// Full names only: "sat", "sun" and "wed" are ordinary words.
const WEEKDAYS: &[(&str, Weekday)] = &[
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
];

fn month(tok: &Tok) -> Option<u32> {
    MONTHS.iter().find(|(name, _)| tok.is(name)).map(|&(_, number)| number)
}

/// "24th", "1st", "2nd", "3rd" → the day number.
fn ordinal(tok: &Tok) -> Option<u32> {
    let word = tok.word()?;
    let (digits, suffix) = word.split_at_checked(word.len().checked_sub(2)?)?;
    let suffix_ok = ["st", "nd", "rd", "th"].iter().any(|s| suffix.eq_ignore_ascii_case(s));
    let day_ok = (1..=2).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    if suffix_ok && day_ok { digits.parse().ok() } else { None }
}

/// A day of the month written as "24" or "24th".
fn day_number(tok: &Tok) -> Option<u32> {
    tok.digits(2).or_else(|| ordinal(tok))
}

/// A four-digit year at `toks[i]`, optionally after a comma ("Dec 24, 2026").
fn year_at(toks: &[Tok], i: usize) -> Option<i32> {
    let i = if toks.get(i).is_some_and(|t| t.text == ",") { i + 1 } else { i };
    let tok = toks.get(i)?;
    if tok.text.len() == 4 { tok.digits(4).map(|y| y as i32) } else { None }
}

/// The date expression starting at `toks[i]`: `None` when there is none, `Some(None)` when there is one but
/// it names no real day ("31 Feb"), `Some(Some(date))` otherwise.
fn date_at(toks: &[Tok], i: usize, today: NaiveDate) -> Option<Option<NaiveDate>> {
    let tok = &toks[i];
    tok.word()?;
    let next = |k: usize| toks.get(i + k);
    let next_is = |k: usize, word: &str| next(k).is_some_and(|t| t.is(word));
    let touching_mark = |k: usize, marks: &[&str]| {
        next(k).is_some_and(|t| marks.contains(&t.text))
            && touches_previous(toks, i + k)
            && touches_previous(toks, i + k + 1)
    };

    // Relative words.
    if tok.is("today") || tok.is("tonight") {
        return Some(Some(today));
    }
    if tok.is("tomorrow") || tok.is("tmrw") {
        return Some(today.checked_add_days(Days::new(1)));
    }
    if tok.is("day") && next_is(1, "after") && next_is(2, "tomorrow") {
        return Some(today.checked_add_days(Days::new(2)));
    }
    // "in 3 days", "in 2 weeks".
    if tok.is("in")
        && let Some(n) = next(1).and_then(|t| t.digits(3))
        && let Some(unit) = next(2)
    {
        let days = if unit.is("day") || unit.is("days") {
            u64::from(n)
        } else if unit.is("week") || unit.is("weeks") {
            u64::from(n) * 7
        } else {
            return None;
        };
        return Some(today.checked_add_days(Days::new(days)));
    }
    // "Friday", "on Friday", "this Friday": on or after today. "next Friday": strictly after today.
    if let Some(&(_, weekday)) = WEEKDAYS.iter().find(|(name, _)| tok.is(name)) {
        let strictly_after = i > 0 && toks[i - 1].is("next");
        return Some(next_weekday(today, weekday, strictly_after));
    }

    // "2026-12-24" (also "2026/12/24").
    if tok.text.len() == 4
        && let Some(year) = tok.digits(4)
        && touching_mark(1, &["-", "/"])
        && let Some(month) = next(2).and_then(|t| t.digits(2))
        && touching_mark(3, &["-", "/"])
        && let Some(day) = next(4).and_then(|t| t.digits(2))
    {
        return Some(NaiveDate::from_ymd_opt(year as i32, month, day));
    }
    // "24/12/2026", "24/12/26", "24/12": day first.
    if let Some(day) = tok.digits(2)
        && touching_mark(1, &["/"])
        && let Some(month) = next(2).and_then(|t| t.digits(2))
    {
        if touching_mark(3, &["/"])
            && let Some(year) = next(4).filter(|t| matches!(t.text.len(), 2 | 4)).and_then(|t| t.digits(4))
        {
            let year = if year < 100 { 2000 + year } else { year };
            return Some(NaiveDate::from_ymd_opt(year as i32, month, day));
        }
        return Some(next_month_day(today, month, day));
    }
    // "24 Dec", "24th of December", "24 December 2026".
    if let Some(day) = day_number(tok) {
        let k = if next_is(1, "of") { 2 } else { 1 };
        if let Some(month) = next(k).and_then(month) {
            return Some(match year_at(toks, i + k + 1) {
                Some(year) => NaiveDate::from_ymd_opt(year, month, day),
                None => next_month_day(today, month, day),
            });
        }
    }
    // "the 24th", "on 24th", "on the 24th": the next 24th of a month.
    if let Some(day) = ordinal(tok)
        && i > 0
        && (toks[i - 1].is("the") || toks[i - 1].is("on"))
    {
        return Some(next_day_of_month(today, day));
    }
    // "Dec 24", "December 24th", "Dec 24, 2026".
    if let Some(month) = month(tok)
        && let Some(day) = next(1).and_then(day_number)
    {
        return Some(match year_at(toks, i + 2) {
            Some(year) => NaiveDate::from_ymd_opt(year, month, day),
            None => next_month_day(today, month, day),
        });
    }
    None
}

/// The next `month`/`day` on or after `today` (next year if this year's has passed). `None` if that day
/// never exists; "29 Feb" finds the next leap year.
fn next_month_day(today: NaiveDate, month: u32, day: u32) -> Option<NaiveDate> {
    (today.year()..=today.year() + 8)
        .filter_map(|year| NaiveDate::from_ymd_opt(year, month, day))
        .find(|&date| date >= today)
}

/// The next `day` of a month on or after `today`, skipping months too short to have it.
fn next_day_of_month(today: NaiveDate, day: u32) -> Option<NaiveDate> {
    (0..=12)
        .map(|offset| today.month0() + offset)
        .filter_map(|m| NaiveDate::from_ymd_opt(today.year() + (m / 12) as i32, m % 12 + 1, day))
        .find(|&date| date >= today)
}

/// The next `weekday` on or after `today`, or strictly after it when `strictly_after`.
fn next_weekday(today: NaiveDate, weekday: Weekday, strictly_after: bool) -> Option<NaiveDate> {
    let ahead = (7 + weekday.num_days_from_monday() - today.weekday().num_days_from_monday()) % 7;
    let ahead = if ahead == 0 && strictly_after { 7 } else { ahead };
    today.checked_add_days(Days::new(u64::from(ahead)))
}

// ---------------------------------------------------------------------------------------------------------
// Timetable
// ---------------------------------------------------------------------------------------------------------

/// One scheduled flight of `shared/data/timetable.csv`.
struct Scheduled {
    flight: FlightNumber,
    origin: &'static str,
    destination: &'static str,
}

const TIMETABLE_CSV: &str = include_str!("../data/timetable.csv");

/// The timetable, sorted by airline then number. The file is plain comma-separated values with no quoting
/// (header `flight,origin,destination`); it is compiled in, so a malformed line is a build-time mistake that
/// the tests below catch.
static TIMETABLE: LazyLock<Vec<Scheduled>> = LazyLock::new(|| {
    let mut flights: Vec<Scheduled> = TIMETABLE_CSV
        .lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&'static str> = line.split(',').map(str::trim).collect();
            let [flight, origin, destination] = fields[..] else {
                panic!("timetable.csv: expected 3 fields in {line:?}");
            };
            let flight = FlightNumber::parse(flight).unwrap_or_else(|e| panic!("timetable.csv: {line:?}: {e}"));
            Scheduled { flight, origin, destination }
        })
        .collect();
    flights.sort_by(|a, b| a.flight.sort_key().cmp(&b.flight.sort_key()));
    flights
});

/// The scheduled `(origin, destination)` of a flight, if the timetable knows it.
pub fn route_of(flight: &FlightNumber) -> Option<(&'static str, &'static str)> {
    TIMETABLE.iter().find(|s| s.flight == *flight).map(|s| (s.origin, s.destination))
}

/// Every scheduled flight from `origin` to `destination` (codes case-insensitive), sorted by airline then
/// number.
pub fn flights_between(origin: &str, destination: &str) -> Vec<FlightNumber> {
    TIMETABLE
        .iter()
        .filter(|s| s.origin.eq_ignore_ascii_case(origin) && s.destination.eq_ignore_ascii_case(destination))
        .map(|s| s.flight.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap() // a Sunday
    }

    fn fnum(s: &str) -> FlightNumber {
        FlightNumber::parse(s).unwrap()
    }

    /// `(number, origin, destination, date)`, with `""` for "absent".
    type Expected = (&'static str, &'static str, &'static str, &'static str);

    /// `(text, expected)`; expected is `None` when the text must be refused. `today` is Sunday 2026-11-22.
    #[rustfmt::skip]
    const PHRASINGS: &[(&str, Option<Expected>)] = &[
        // The brief's examples.
        ("BA117 on 24 Dec", Some(("BA117", "", "", "2026-12-24"))),
        ("LHR to JFK tomorrow", Some(("", "LHR", "JFK", "2026-11-23"))),
        ("flight UA 900 2026-12-24", Some(("UA900", "", "", "2026-12-24"))),
        ("Can you cover my flight BA117 on 24 Dec?", Some(("BA117", "", "", "2026-12-24"))),
        ("lh400 fra-jfk next friday", Some(("LH400", "FRA", "JFK", "2026-11-27"))),
        // Flight-number spellings.
        ("BA 117", Some(("BA117", "", "", ""))),
        ("ba117", Some(("BA117", "", "", ""))),
        ("ba 117 tomorrow", Some(("BA117", "", "", "2026-11-23"))),
        ("BA0117", Some(("BA117", "", "", ""))),
        ("flight ua 900", Some(("UA900", "", "", ""))),
        ("I'm on UA900.", Some(("UA900", "", "", ""))),
        ("Flight BA117, tomorrow.", Some(("BA117", "", "", "2026-11-23"))),
        ("flt zz 12", Some(("ZZ12", "", "", ""))),
        ("flight number ab 12", Some(("AB12", "", "", ""))),
        ("flight no. xy 345 today", Some(("XY345", "", "", "2026-11-22"))),
        ("ZZ123 today", Some(("ZZ123", "", "", "2026-11-22"))),
        ("ZZ 123 on 5 Dec", Some(("ZZ123", "", "", "2026-12-05"))),
        ("9W123 to BOM on 3 Jan", Some(("9W123", "", "BOM", "2027-01-03"))),
        ("My flight is U2 1234 from LGW to EDI", Some(("U21234", "LGW", "EDI", ""))),
        ("F9 1234 DEN to LAS", Some(("F91234", "DEN", "LAS", ""))),
        ("1A1 tomorrow", Some(("1A1", "", "", "2026-11-23"))),
        ("BA117 and then BA118", Some(("BA117", "", "", ""))),
        ("I'm flying BA 117 from Heathrow", Some(("BA117", "", "", ""))),
        ("(AA100) tonight", Some(("AA100", "", "", "2026-11-22"))),
        ("AS100 from SEA", Some(("AS100", "SEA", "", ""))),
        // Routes.
        ("from LHR to JFK on 24/12", Some(("", "LHR", "JFK", "2026-12-24"))),
        ("LHR-JFK 24/12/2026", Some(("", "LHR", "JFK", "2026-12-24"))),
        ("LHR – JFK on Dec 24", Some(("", "LHR", "JFK", "2026-12-24"))),
        ("LHR→JFK December 24th", Some(("", "LHR", "JFK", "2026-12-24"))),
        ("LHR > JFK the 24th", Some(("", "LHR", "JFK", "2026-11-24"))),
        ("LHR -> JFK 24th of December", Some(("", "LHR", "JFK", "2026-12-24"))),
        ("lhr to jfk", Some(("", "LHR", "JFK", ""))),
        ("MAN to JFK", Some(("", "MAN", "JFK", ""))),
        ("ABC to XYZ", Some(("", "ABC", "XYZ", ""))),
        ("SIN to SYD in 2 weeks", Some(("", "SIN", "SYD", "2026-12-06"))),
        ("BA117 LHR/JFK", Some(("BA117", "", "", ""))),
        ("BA117 from LHR", Some(("BA117", "LHR", "", ""))),
        ("UA901 FRA>SFO", Some(("UA901", "FRA", "SFO", ""))),
        ("Is my KL641 from AMS to JFK covered?", Some(("KL641", "AMS", "JFK", ""))),
        ("cover ua900 sfo to fra on 1st December", Some(("UA900", "SFO", "FRA", "2026-12-01"))),
        ("Delta DL1 ATL to LHR 24 December 2026", Some(("DL1", "ATL", "LHR", "2026-12-24"))),
        // Dates.
        ("AA100 Dec 24, 2026", Some(("AA100", "", "", "2026-12-24"))),
        ("EK1 DXB to LHR on Friday", Some(("EK1", "DXB", "LHR", "2026-11-27"))),
        ("QF1 this friday", Some(("QF1", "", "", "2026-11-27"))),
        ("SQ322 on sunday", Some(("SQ322", "", "", "2026-11-22"))),
        ("SQ322 next sunday", Some(("SQ322", "", "", "2026-11-29"))),
        ("AF22 in 3 days", Some(("AF22", "", "", "2026-11-25"))),
        ("BA117 the day after tomorrow", Some(("BA117", "", "", "2026-11-24"))),
        ("BA117 on 3 Jan", Some(("BA117", "", "", "2027-01-03"))),
        ("BA117 on 1 Nov", Some(("BA117", "", "", "2027-11-01"))),
        ("BA117 on 22 Nov", Some(("BA117", "", "", "2026-11-22"))),
        ("BA117 on 15/01", Some(("BA117", "", "", "2027-01-15"))),
        ("BA 117 on 24/12/26", Some(("BA117", "", "", "2026-12-24"))),
        ("BA117 on the 1st", Some(("BA117", "", "", "2026-12-01"))),
        ("BA117 on 29 Feb", Some(("BA117", "", "", "2028-02-29"))),
        ("BA117 on 31 Feb", Some(("BA117", "", "", ""))),
        ("BA117 on 2026-13-01", Some(("BA117", "", "", ""))),
        ("BA117 on 32 Dec", Some(("BA117", "", "", ""))),
        ("BA117 departs 10:30 on 24 Dec", Some(("BA117", "", "", "2026-12-24"))),
        // Refused: ordinary sentences, times, amounts, dates without a flight.
        ("meet at 5pm", None),
        ("I'm in 10 minutes", None),
        ("I'M IN 10 MINUTES", None),
        ("room 117", None),
        ("call me on 24 Dec", None),
        ("see you on 24 Dec", None),
        ("the school called about a fight", None),
        ("ETA 15:30", None),
        ("I have 2 kids", None),
        ("pay 100 USD", None),
        ("to be or not to be", None),
        ("it 4 me 2", None),
        ("is 2 enough? on 24 at 5", None),
        ("I am 30 years old", None),
        ("As 5 people said", None),
        ("meet at 9 AM 24 Dec", None),
        ("WE'RE 20 MINUTES AWAY", None),
        ("we saw an A380 at the airport", None),
        ("flight 117", None),
        ("B117", None),
        ("BAA117", None),
        ("BA12345", None),
        ("tomorrow", None),
        ("LHR/JFK", None),
        ("on 24/12 at 10:30", None),
        ("ABC-XYZ", None),
        ("abc to xyz", None),
        ("the to you and to her", None),
        ("THE TO YOU", None),
        ("man to man", None),
        ("go to sea", None),
        ("add to the cart", None),
        ("mp3 player", None),
        ("", None),
    ];

    #[test]
    fn phrasings() {
        assert!(PHRASINGS.len() >= 60);
        assert!(PHRASINGS.iter().filter(|(_, expected)| expected.is_none()).count() >= 15);
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        for (text, expected) in PHRASINGS {
            let expected = expected.map(|(number, origin, destination, date)| FlightMention {
                number: (!number.is_empty()).then(|| fnum(number)),
                origin: some(origin),
                destination: some(destination),
                date: (!date.is_empty()).then(|| date.parse().unwrap()),
            });
            assert_eq!(parse(text, today()), expected, "text: {text:?}");
        }
    }

    #[test]
    fn flight_number_parse_valid() {
        for (input, normalised, airline) in [
            ("BA117", "BA117", "BA"),
            ("ba 117", "BA117", "BA"),
            ("BA0117", "BA117", "BA"),
            (" BA  117 ", "BA117", "BA"),
            ("U2 1234", "U21234", "U2"),
            ("U21234", "U21234", "U2"),
            ("9W123", "9W123", "9W"),
            ("1A1", "1A1", "1A"),
            ("UA9", "UA9", "UA"),
            // By the grammar this is airline B1, flight 17 (free text refuses it; see `parse`).
            ("B117", "B117", "B1"),
        ] {
            let number = FlightNumber::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(number.as_str(), normalised, "{input:?}");
            assert_eq!(number.to_string(), normalised, "{input:?}");
            assert_eq!(number.airline(), airline, "{input:?}");
            // The normalised form parses back to itself.
            assert_eq!(FlightNumber::parse(number.as_str()), Ok(number.clone()));
        }
    }

    #[test]
    fn flight_number_parse_invalid() {
        for input in
            ["", "  ", "B", "BA", "BA ", "BAA117", "BA12345", "11123", "BA117A", "BA-117", "BA0", "B@117", "£A117"]
        {
            let error = FlightNumber::parse(input).expect_err(input);
            assert!(error.ends_with('.') && error.len() < 80, "{input:?}: {error}");
        }
    }

    #[test]
    fn flight_number_serde_normalises_and_validates() {
        let number: FlightNumber = serde_json::from_str("\"ba 0117\"").unwrap();
        assert_eq!(number, fnum("BA117"));
        assert_eq!(serde_json::to_string(&number).unwrap(), "\"BA117\"");
        assert!(serde_json::from_str::<FlightNumber>("\"room 117\"").is_err());
    }

    #[test]
    fn parse_airport_wants_three_letters() {
        assert_eq!(parse_airport("lhr"), Ok("LHR".to_string()));
        assert_eq!(parse_airport(" Jfk "), Ok("JFK".to_string()));
        assert_eq!(parse_airport("XYZ"), Ok("XYZ".to_string())); // unknown is fine here
        for bad in ["", "LH", "LHRX", "LH1", "L-R", "ÅLH"] {
            assert!(parse_airport(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_date_without_a_year_rolls_over() {
        let mention = parse("BA117 on 3 Jan", today()).unwrap();
        assert_eq!(mention.date, NaiveDate::from_ymd_opt(2027, 1, 3));
        let mention = parse("BA117 on Jan 3rd", today()).unwrap();
        assert_eq!(mention.date, NaiveDate::from_ymd_opt(2027, 1, 3));
        // "the 31st" from 2026-11-22: November has 30 days, so 2026-12-31.
        let mention = parse("BA117 on the 31st", today()).unwrap();
        assert_eq!(mention.date, NaiveDate::from_ymd_opt(2026, 12, 31));
    }

    #[test]
    fn weekdays_this_versus_next() {
        let friday = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        assert_eq!(parse("BA117 friday", friday).unwrap().date, Some(friday));
        assert_eq!(parse("BA117 this friday", friday).unwrap().date, Some(friday));
        assert_eq!(parse("BA117 next friday", friday).unwrap().date, NaiveDate::from_ymd_opt(2026, 12, 4));
    }

    #[test]
    fn parsing_is_deterministic_and_total() {
        let odd = ["→→→", "BA", "-- > to", "in 999 weeks BA117", "BA117 on 99/99/9999", "ZZ1 31/02", "😀 BA117 😀"];
        for text in odd {
            assert_eq!(parse(text, today()), parse(text, today()));
        }
        let far = NaiveDate::MAX;
        assert_eq!(parse("BA117 in 999 weeks", far).unwrap().date, None);
        assert_eq!(parse("BA117 tomorrow", far).unwrap().date, None);
        assert_eq!(parse("BA117 next friday", far).unwrap().date, None);
        assert_eq!(parse("BA117 on the 24th", far).unwrap().date, None);
    }

    #[test]
    fn timetable_is_well_formed() {
        assert!(TIMETABLE.len() >= 40);
        for scheduled in TIMETABLE.iter() {
            assert!(airports::is_known(scheduled.origin), "{}: {}", scheduled.flight, scheduled.origin);
            assert!(airports::is_known(scheduled.destination), "{}: {}", scheduled.flight, scheduled.destination);
            assert_eq!(parse_airport(scheduled.origin).as_deref(), Ok(scheduled.origin));
            assert_eq!(parse_airport(scheduled.destination).as_deref(), Ok(scheduled.destination));
            assert_ne!(scheduled.origin, scheduled.destination);
        }
        for pair in TIMETABLE.windows(2) {
            assert_ne!(pair[0].flight, pair[1].flight, "duplicate flight");
        }
    }

    #[test]
    fn route_of_looks_up_the_timetable() {
        assert_eq!(route_of(&fnum("BA117")), Some(("LHR", "JFK")));
        assert_eq!(route_of(&fnum("ua 900")), Some(("SFO", "FRA")));
        assert_eq!(route_of(&fnum("UA901")), Some(("FRA", "SFO")));
        assert_eq!(route_of(&fnum("ZZ999")), None);
    }

    #[test]
    fn flights_between_is_sorted_and_case_insensitive() {
        let lhr_jfk = flights_between("LHR", "JFK");
        assert!(lhr_jfk.len() >= 2);
        assert_eq!(lhr_jfk, [fnum("AA101"), fnum("BA115"), fnum("BA117"), fnum("VS3")]);
        assert_eq!(flights_between("lhr", "jfk"), lhr_jfk);
        // Numeric, not lexicographic, order within an airline.
        assert_eq!(flights_between("JFK", "LHR"), [fnum("AA100"), fnum("BA112"), fnum("BA178"), fnum("VS4")]);
        assert!(flights_between("LHR", "XYZ").is_empty());
    }
}
