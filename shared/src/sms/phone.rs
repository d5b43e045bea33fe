//! Phone numbers: parsed and validated with `phonenumber` (libphonenumber's metadata),
//! normalised to E.164, and masked for logs.
//!
//! Guarantees: a [`Phone`] is always a valid E.164 number; its `Debug` and `Display` print
//! only the masked form (`+44******0958`), so a number cannot reach a log line by accident —
//! the full number is only available through [`Phone::e164`], for Twilio and the database.

use std::str::FromStr;

use crate::platform::config::{ConfigError, Source};
use crate::platform::error::FieldError;

/// A valid phone number in E.164 form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

/// The region a number without `+country` is read in (`PARLEY_PHONE_DEFAULT_REGION`, GB).
#[derive(Debug, Clone, Copy)]
pub struct DefaultRegion(phonenumber::country::Id);

impl DefaultRegion {
    pub fn from_env(src: &impl Source) -> Result<Self, ConfigError> {
        let raw = crate::platform::config::optional(src, "PARLEY_PHONE_DEFAULT_REGION").unwrap_or_else(|| "GB".into());
        phonenumber::country::Id::from_str(raw.trim().to_ascii_uppercase().as_str())
            .map(Self)
            .map_err(|_| ConfigError::new("PARLEY_PHONE_DEFAULT_REGION", "is not an ISO 3166 region code such as GB"))
    }
}

impl Default for DefaultRegion {
    fn default() -> Self {
        Self(phonenumber::country::Id::GB)
    }
}

impl Phone {
    /// Parses what a person typed (`07700 900123`, `+44 7700 900123`) into E.164, or a 422
    /// field error naming `field`.
    pub fn parse(raw: &str, region: DefaultRegion, field: &str) -> Result<Self, FieldError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(FieldError::new(field, "must not be empty"));
        }
        if raw.len() > 32 {
            return Err(FieldError::new(field, "is too long for a phone number"));
        }
        let number = phonenumber::parse(Some(region.0), raw).map_err(|_| {
            FieldError::new(field, "is not a phone number (use the international form, e.g. +447700900123)")
        })?;
        if !phonenumber::is_valid(&number) {
            return Err(FieldError::new(field, "is not a valid phone number for its country"));
        }
        Ok(Self(number.format().mode(phonenumber::Mode::E164).to_string()))
    }

    /// A number Twilio sent us (`From`), already E.164. Only its shape is checked: Twilio
    /// normalised it, and loading libphonenumber's metadata and compiling a region's patterns
    /// (milliseconds, more in debug builds) on a webhook's cold start would be spent for nothing.
    pub fn from_e164(raw: &str) -> Option<Self> {
        let digits = raw.strip_prefix('+')?;
        let shaped =
            (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
        shaped.then(|| Self(raw.to_owned()))
    }

    /// The full number, for Twilio and the database only — never for a log line.
    pub fn e164(&self) -> &str {
        &self.0
    }

    /// `+44******0958`: the country prefix (up to 3 characters) and the last four digits.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Masks any phone-like string: keeps `+` and two digits and the last four, stars the rest.
pub fn mask(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let head = 3.min(chars.len());
    let tail = 4;
    let hidden = chars.len().saturating_sub(head + tail);
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(hidden));
    out.extend(&chars[chars.len() - tail..]);
    out
}

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

impl std::fmt::Display for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_national_number_is_normalised_to_e164_in_the_default_region() {
        // GIVEN a UK number typed nationally WHEN parsed with GB as default THEN E.164
        let p = Phone::parse("07911 120958", DefaultRegion::default(), "phone").unwrap();
        assert_eq!(p.e164(), "+447911120958");
    }

    #[test]
    fn an_international_number_keeps_its_country() {
        let p = Phone::parse("+1 (415) 867-5309", DefaultRegion::default(), "phone").unwrap();
        assert_eq!(p.e164(), "+14158675309");
    }

    #[test]
    fn an_invalid_number_is_a_field_error_naming_the_field() {
        for bad in ["", "hello", "+44 12", "+999 1234567"] {
            let err = Phone::parse(bad, DefaultRegion::default(), "phone").unwrap_err();
            assert_eq!(err.field, "phone", "{bad}");
        }
    }

    #[test]
    fn logs_see_only_the_masked_form() {
        let p = Phone::parse("+447911120958", DefaultRegion::default(), "phone").unwrap();
        assert_eq!(p.masked(), "+44******0958");
        assert_eq!(format!("{p}"), "+44******0958");
        assert!(!format!("{p:?}").contains("7911120958"));
    }

    #[test]
    fn a_number_from_twilio_is_taken_in_e164_shape_only() {
        assert_eq!(Phone::from_e164("+447400123456").unwrap().e164(), "+447400123456");
        for bad in ["447400123456", "+44", "+0447400123456", "+44 7400 123456", "+4474001234567890"] {
            assert!(Phone::from_e164(bad).is_none(), "{bad}");
        }
    }

    /// Every pattern of libphonenumber's metadata, by region, with the region's example
    /// national numbers (one per number type it has).
    fn metadata() -> Vec<(&'static str, Vec<&'static str>, Vec<&'static str>)> {
        use phonenumber::metadata::{DATABASE, Descriptor, Format};
        fn formats<'a>(fs: &'a [Format]) -> impl Iterator<Item = &'a str> + 'a {
            fs.iter().flat_map(|f| {
                std::iter::once(f.pattern().as_str()).chain(f.leading_digits().iter().map(|r| r.as_str()))
            })
        }
        DATABASE
            .iter()
            .map(|meta| {
                let d = meta.descriptors();
                let descriptors: Vec<&Descriptor> = [
                    Some(d.general()),
                    d.fixed_line(),
                    d.mobile(),
                    d.toll_free(),
                    d.premium_rate(),
                    d.shared_cost(),
                    d.personal_number(),
                    d.voip(),
                    d.pager(),
                    d.uan(),
                    d.emergency(),
                    d.voicemail(),
                    d.short_code(),
                    d.standard_rate(),
                    d.carrier(),
                    d.no_international(),
                ]
                .into_iter()
                .flatten()
                .collect();
                let examples = descriptors.iter().filter_map(|d| d.example()).collect();
                let patterns = descriptors
                    .iter()
                    .map(|d| d.national_number().as_str())
                    .chain(formats(meta.formats()))
                    .chain(formats(meta.international_formats()))
                    .chain(
                        [meta.international_prefix(), meta.national_prefix_for_parsing(), meta.leading_digits()]
                            .into_iter()
                            .flatten()
                            .map(|r| r.as_str()),
                    )
                    .collect();
                (meta.id(), patterns, examples)
            })
            .collect()
    }

    /// The vendored `phonenumber` keeps its patterns unchecked until first use, and compiles
    /// them ASCII-only (vendor/phonenumber/PARLEY.md). This compiles every one of them as the
    /// crate will, and, since they only ever see national numbers already normalised to ASCII
    /// digits, checks that on such input each finds exactly what libphonenumber's Unicode
    /// reading finds: on every example number of its region and each of its leading parts
    /// (what a format's `leading_digits` sees).
    #[test]
    fn every_pattern_compiles_and_matches_as_unicode_does() {
        let (mut patterns_checked, mut compared) = (0, 0);
        for (region, patterns, examples) in metadata() {
            let inputs: Vec<&str> = examples.iter().flat_map(|e| (1..=e.len()).map(move |n| &e[..n])).collect();
            for pattern in patterns {
                // The options the vendored loader compiles with.
                let ascii = regex::RegexBuilder::new(pattern).ignore_whitespace(true).unicode(false).build();
                let ascii = ascii.unwrap_or_else(|e| panic!("{region}: pattern {pattern:?} does not compile: {e}"));
                let unicode = regex::RegexBuilder::new(pattern).ignore_whitespace(true).build().unwrap();
                for input in &inputs {
                    let found = |re: &regex::Regex| re.find(input).map(|m| m.range());
                    assert_eq!(found(&ascii), found(&unicode), "{region}: {pattern:?} on {input:?}");
                    compared += 1;
                }
                patterns_checked += 1;
            }
        }
        // libphonenumber 9.0.33 has about 4 800 patterns over 254 regions.
        assert!(patterns_checked > 4_000, "only {patterns_checked} patterns: the database did not load");
        assert!(compared > 100_000, "only {compared} comparisons: the examples did not load");
    }

    #[test]
    fn the_default_region_is_read_from_settings() {
        let env = std::collections::HashMap::from([("PARLEY_PHONE_DEFAULT_REGION".to_owned(), "us".to_owned())]);
        let region = DefaultRegion::from_env(&env).unwrap();
        assert_eq!(Phone::parse("415 867 5309", region, "phone").unwrap().e164(), "+14158675309");
        let bad = std::collections::HashMap::from([("PARLEY_PHONE_DEFAULT_REGION".to_owned(), "XX1".to_owned())]);
        assert_eq!(DefaultRegion::from_env(&bad).unwrap_err().name, "PARLEY_PHONE_DEFAULT_REGION");
    }
}
