//! The flight parser on phrasings written after it, and never used to change it (issue 15,
//! "held-out evaluation"). The in-sample table (`PHRASINGS` in
//! `shared/src/commerce/flights/tests.rs`) must all pass; these are measured instead, and the
//! figure is stated in README.md (generated: see `support/mod.rs`). A change to the parser
//! that moves the figure fails here until the README says the new one.
//!
//! Do not edit the parser to make one of these pass: add the phrasing to `PHRASINGS` with
//! the fix, and write new held-out phrasings.

mod support;

use chrono::NaiveDate;
use shared::commerce::flights::{FlightMention, FlightNumber, parse};

/// Sunday 22 November 2026, as for `PHRASINGS`.
fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
}

/// `(number, origin, destination, date)`, with `""` for "absent".
type Expected = (&'static str, &'static str, &'static str, &'static str);

/// `(text, expected)`; `None`: the text must be refused.
#[rustfmt::skip]
const HELD_OUT: &[(&str, Option<Expected>)] = &[
    ("Can I insure AA 100 on the 5th of January?", Some(("AA100", "", "", "2027-01-05"))),
    ("flying QR 7 DOH-LAX on Tuesday", Some(("QR7", "DOH", "LAX", "2026-11-24"))),
    ("Need cover for KL 642, JFK to AMS, 2 Dec", Some(("KL642", "JFK", "AMS", "2026-12-02"))),
    ("ua 901 on december 3", Some(("UA901", "", "", "2026-12-03"))),
    ("Booking EK 5 this Wednesday", Some(("EK5", "", "", "2026-11-25"))),
    ("What would cover for DL 44 cost? It leaves 2026-12-19.", Some(("DL44", "", "", "2026-12-19"))),
    ("SFO→NRT on the 30th", Some(("", "SFO", "NRT", "2026-11-30"))),
    ("flight: BA 283, LHR - LAX, 20/01/2027", Some(("BA283", "LHR", "LAX", "2027-01-20"))),
    ("I'm on IB6251 to JFK tomorrow morning", Some(("IB6251", "", "JFK", "2026-11-23"))),
    ("Quote me CDG to HND on 14 Feb please", Some(("", "CDG", "HND", "2027-02-14"))),
    ("insurance for VS3 on 28 November", Some(("VS3", "", "", "2026-11-28"))),
    ("is NH 10 from NRT to JFK on Dec 1st eligible", Some(("NH10", "NRT", "JFK", "2026-12-01"))),
    ("My flight number is TK 1980 and it departs in 5 days", Some(("TK1980", "", "", "2026-11-27"))),
    ("DUB to BOS, 2026-12-21", Some(("", "DUB", "BOS", "2026-12-21"))),
    ("WN 1234 tmrw", Some(("WN1234", "", "", "2026-11-23"))),
    ("cover for A3 600 ATH-LHR on friday the 27th", Some(("A3600", "ATH", "LHR", "2026-11-27"))),
    ("LX 38 ZRH to SFO 6th Dec", Some(("LX38", "ZRH", "SFO", "2026-12-06"))),
    ("QF 12, LAX > SYD, 24.12.2026", Some(("QF12", "LAX", "SYD", "2026-12-24"))),
    ("heading MAD to MEX on Saturday", Some(("", "MAD", "MEX", "2026-11-28"))),
    ("EI 105 on 01/12", Some(("EI105", "", "", "2026-12-01"))),
    ("what about flight AC 850?", Some(("AC850", "", "", ""))),
    ("I fly out on CX 251 in two weeks", Some(("CX251", "", "", "2026-12-06"))),
    ("BA 2490 LGW to TFS next sat", Some(("BA2490", "LGW", "TFS", "2026-11-28"))),
    ("my return is UA 900, the 10th of Dec", Some(("UA900", "", "", "2026-12-10"))),
    // Not flights.
    ("I'll be at gate 22 at 7", None),
    ("we need 3 seats for 2 adults and 1 child", None),
    ("the meeting is in room B12 on 4 Dec", None),
    ("Vitamin B12 and D3 daily", None),
    ("order 4411 shipped on 2 Dec", None),
    ("I'm 40 and fly a lot", None),
    ("my PIN is 1234", None),
    ("see you at 10 to 5", None),
    ("ON TO THE NEXT ONE", None),
    ("call me in 5 mins", None),
    ("It's the M25 again, stuck in traffic", None),
    ("Tickets for the U2 concert on 3 Dec", None),
    ("my postcode is SW1A 1AA", None),
    ("bus 73 to the station tomorrow", None),
    ("CEO to CFO update tomorrow", None),
    ("FYI to ALL staff: office closed", None),
];

fn expected(e: Option<Expected>) -> Option<FlightMention> {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    e.map(|(number, origin, destination, date)| FlightMention {
        number: (!number.is_empty()).then(|| FlightNumber::parse(number).unwrap()),
        origin: some(origin),
        destination: some(destination),
        date: (!date.is_empty()).then(|| date.parse().unwrap()),
    })
}

/// The in-sample table's size and refusals, read from its source (it is a private unit test):
/// one `("text", …),` row per line.
fn in_sample_counts() -> (usize, usize) {
    let source = std::fs::read_to_string(support::repo_file("shared/src/commerce/flights/tests.rs")).unwrap();
    let start = source.find("const PHRASINGS").expect("the in-sample table");
    let table = &source[start..start + source[start..].find("\n];").expect("its end")];
    let rows: Vec<&str> = table.lines().map(str::trim).filter(|l| l.starts_with("(\"")).collect();
    (rows.len(), rows.iter().filter(|l| l.ends_with("None),")).count())
}

#[test]
fn the_held_out_phrasings_are_new_and_varied() {
    assert!(HELD_OUT.len() >= 30, "{}", HELD_OUT.len());
    assert!(HELD_OUT.iter().filter(|(_, e)| e.is_none()).count() >= 10);
    let in_sample = std::fs::read_to_string(support::repo_file("shared/src/commerce/flights/tests.rs")).unwrap();
    for (text, _) in HELD_OUT {
        assert!(!in_sample.contains(&format!("{text:?}")), "{text:?} is in the in-sample table");
    }
}

#[test]
fn readme_states_the_held_out_figure() {
    let mut wrong = Vec::new();
    for (text, e) in HELD_OUT {
        let got = parse(text, today());
        if got != expected(*e) {
            wrong.push(format!("  {text:?}: expected {:?}, got {got:?}", expected(*e)));
        }
    }
    let refuse = HELD_OUT.iter().filter(|(_, e)| e.is_none()).count();
    let refused_right = HELD_OUT.iter().filter(|(text, e)| e.is_none() && parse(text, today()).is_none()).count();
    println!("misparsed held-out phrasings ({}):\n{}", wrong.len(), wrong.join("\n"));
    let (in_sample, in_sample_refused) = in_sample_counts();
    let measured = format!(
        "tested on {in_sample} phrasings, {in_sample_refused} of which it must refuse; on {} held-out \
         phrasings written after it ({refuse} to refuse; `shared/tests/flights_heldout.rs`) it gets \
         {} right, {refused_right} of the refusals included",
        HELD_OUT.len(),
        HELD_OUT.len() - wrong.len(),
    );
    support::check_generated("README.md", "flights-heldout", &measured);
}
