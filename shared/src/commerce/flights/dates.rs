//! Date expressions in free text ("24 Dec", "next Friday", "in 3 days"), resolved against
//! an injected `today` — never the clock — so the same text and day give the same date.

use chrono::{Datelike, Days, NaiveDate, Weekday};

use super::tokens::{Tok, touches_previous};

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
pub(super) fn date_at(toks: &[Tok], i: usize, today: NaiveDate) -> Option<Option<NaiveDate>> {
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
