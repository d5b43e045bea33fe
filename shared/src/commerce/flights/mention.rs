//! Finding a flight in a chat message: a flight number, a route, and the first date.

use chrono::NaiveDate;

use super::dates::date_at;
use super::number::FlightNumber;
use super::tokens::{Tok, tokenize, touches_previous};
use crate::commerce::airports;

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
