//! Redaction of personal data from text sent to a third party (the Claude tone provider).
//!
//! Guarantees: emails, phone numbers, payment card numbers (Luhn-checked), national ids (US
//! SSN, UK National Insurance numbers) and street addresses ("221B Baker Street") are
//! replaced by placeholders (`[email]`, `[phone]`, `[card]`, `[national-id]`,
//! `[address]`) before the text leaves Parley. Redaction errs on the side of removing: a
//! long digit run that is not a valid card is still removed as a number that could be one.

use std::sync::LazyLock;

use regex::Regex;

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b").expect("valid regex"));
/// 13–19 digits, optionally grouped by spaces or dashes (card numbers).
static CARD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(?:\d[ -]?){12,18}\d\b").expect("valid regex"));
static SSN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b\d{3}-\d{2}-\d{4}\b").expect("valid regex"));
static NINO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b[A-CEGHJ-PR-TW-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b").expect("valid regex"));
/// Phone numbers: an optional +country code, then at least 7 digits with separators.
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d[\d\s.-]{5,}\d").expect("valid regex"));
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b\d{1,5}[a-z]?\s+(?:[a-z][a-z'.-]*\s+){1,4}(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr|boulevard|blvd|court|ct|close|way|place|pl|terrace|crescent|square|sq)\b\.?",
    )
    .expect("valid regex")
});

/// The text with personal data replaced by placeholders.
pub fn redact(text: &str) -> String {
    let text = EMAIL.replace_all(text, "[email]");
    let text = SSN.replace_all(&text, "[national-id]");
    let text = NINO.replace_all(&text, "[national-id]");
    let text = CARD.replace_all(&text, |c: &regex::Captures<'_>| {
        let digits: String = c[0].chars().filter_map(decimal_value).collect();
        if luhn(&digits) { "[card]".to_owned() } else { "[number]".to_owned() }
    });
    let text = ADDRESS.replace_all(&text, "[address]");
    let text = PHONE.replace_all(&text, |c: &regex::Captures<'_>| {
        // Seven or more digits: a phone number; shorter runs (times, amounts) stay.
        // `\d` matches every Unicode decimal digit (Arabic-Indic, Devanagari, full-width…),
        // so the count must too, or "٠٧٧٠٠ ٩٠٠١٢٣" would pass as a short number.
        if c[0].chars().filter(|c| c.is_numeric()).count() >= 7 { "[phone]".to_owned() } else { c[0].to_owned() }
    });
    text.into_owned()
}

/// The ASCII digit of a decimal digit in any script (Unicode `Nd` digits come in runs of
/// ten from a zero); `None` for anything else. Scripts not listed count as digits for
/// redaction (`is_numeric`) but cannot pass the Luhn check, so they become `[number]`.
fn decimal_value(c: char) -> Option<char> {
    const ZEROS: &[u32] = &[
        0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66, 0xE50, 0xED0, 0xF20,
        0x1040, 0x17E0, 0x1810, 0xFF10,
    ];
    let code = u32::from(c);
    ZEROS.iter().find(|z| (**z..**z + 10).contains(&code)).and_then(|z| char::from_digit(code - z, 10))
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d }
        })
        .sum();
    digits.len() >= 13 && sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_redacted() {
        assert_eq!(redact("mail me at jane.doe+kids@example.co.uk now"), "mail me at [email] now");
    }

    #[test]
    fn phone_numbers_in_common_shapes_are_redacted() {
        for (input, expected) in [
            ("call +44 7700 900123 today", "call [phone] today"),
            ("my number is (415) 555-0132", "my number is [phone]"),
            ("ring 020 7946 0958", "ring [phone]"),
            ("text 555.867.5309!", "text [phone]!"),
        ] {
            assert_eq!(redact(input), expected, "{input}");
        }
    }

    #[test]
    fn phone_numbers_in_non_ascii_digits_are_redacted() {
        // GIVEN the same number in Arabic-Indic, Devanagari and full-width digits
        for (input, expected) in [
            ("call ٠٧٧٠٠ ٩٠٠١٢٣ today", "call [phone] today"),
            ("call ०७७०० ९००१२३ today", "call [phone] today"),
            ("call ０７７００ ９００１２３ today", "call [phone] today"),
            ("card ４１１１ １１１１ １１１１ １１１１", "card [card]"),
        ] {
            // WHEN redacted; THEN nothing of it is left
            assert_eq!(redact(input), expected, "{input}");
        }
    }

    #[test]
    fn card_numbers_are_redacted_and_luhn_checked() {
        assert_eq!(redact("card 4111 1111 1111 1111 exp 12/28"), "card [card] exp 12/28");
        assert_eq!(redact("card 4111-1111-1111-1111"), "card [card]");
        assert_eq!(redact("ref 1234567890123"), "ref [number]");
    }

    #[test]
    fn national_ids_are_redacted() {
        assert_eq!(redact("SSN 123-45-6789 on file"), "SSN [national-id] on file");
        assert_eq!(redact("NI number AB 12 34 56 C"), "NI number [national-id]");
    }

    #[test]
    fn street_addresses_are_redacted() {
        assert_eq!(redact("pick them up at 221B Baker Street after school"), "pick them up at [address] after school");
        assert_eq!(redact("I live at 1600 Pennsylvania Ave."), "I live at [address]");
    }

    #[test]
    fn ordinary_numbers_and_text_survive() {
        for text in [
            "meet at 5:30pm on the 24th",
            "I paid 120 dollars for 2 tickets",
            "flight BA117 leaves at 18:25",
            "you never listen to me!!!",
        ] {
            assert_eq!(redact(text), text);
        }
    }
}
