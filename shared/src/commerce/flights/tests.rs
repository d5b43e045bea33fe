//! The flight parser's phrasings and the timetable, as specifications.

use chrono::NaiveDate;

use super::timetable::TIMETABLE;
use super::*;
use crate::commerce::airports;

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
    for input in ["", "  ", "B", "BA", "BA ", "BAA117", "BA12345", "11123", "BA117A", "BA-117", "BA0", "B@117", "£A117"]
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
