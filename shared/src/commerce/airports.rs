//! Reference data for quoting flight-delay cover: code, name, city, country and position of ~100 major airports.
//!
//! Provenance: coordinates are the airports' public reference points in decimal degrees, rounded to four
//! decimals. They are approximate and meant for distance bands only, never for navigation.
//!
//! Guarantees:
//! - the table (`shared/data/airports.csv`) is compiled into the binary and parsed once, on first use;
//! - every code is three uppercase ASCII letters and appears once (checked by the tests below);
//! - lookups by code are case-insensitive;
//! - [`distance_km`] is the haversine great-circle distance on a sphere of radius 6371 km.

use std::sync::LazyLock;

/// One airport of the reference table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Airport {
    /// IATA code, three uppercase letters, e.g. `"LHR"`.
    pub iata: &'static str,
    pub name: &'static str,
    pub city: &'static str,
    pub country: &'static str,
    /// Decimal degrees, north positive.
    pub latitude: f64,
    /// Decimal degrees, east positive.
    pub longitude: f64,
}

/// Mean earth radius used by [`distance_km`].
const EARTH_RADIUS_KM: f64 = 6371.0;

const CSV: &str = include_str!("../../data/airports.csv");

/// The table, sorted by code so [`get`] can binary-search it.
static AIRPORTS: LazyLock<Vec<Airport>> = LazyLock::new(|| {
    let mut airports: Vec<Airport> =
        CSV.lines().skip(1).filter(|line| !line.trim().is_empty()).map(parse_line).collect();
    airports.sort_by(|a, b| a.iata.cmp(b.iata));
    airports
});

/// Parses one data line. The file is plain comma-separated values with no quoting: no field may contain a
/// comma. It is compiled in, so a malformed line is a build-time mistake, and the tests below catch it.
fn parse_line(line: &'static str) -> Airport {
    let fields: Vec<&'static str> = line.split(',').map(str::trim).collect();
    let [iata, name, city, country, latitude, longitude] = fields[..] else {
        panic!("airports.csv: expected 6 fields in {line:?}");
    };
    let degrees = |value: &str| -> f64 {
        value.parse().unwrap_or_else(|_| panic!("airports.csv: bad coordinate {value:?} in {line:?}"))
    };
    Airport { iata, name, city, country, latitude: degrees(latitude), longitude: degrees(longitude) }
}

/// Every airport in the table, sorted by code.
pub fn all() -> &'static [Airport] {
    AIRPORTS.as_slice()
}

/// The airport with this IATA code, case-insensitively (`"lhr"` finds Heathrow).
pub fn get(code: &str) -> Option<&'static Airport> {
    if code.len() != 3 {
        return None;
    }
    let code = code.to_ascii_uppercase();
    let airports = all();
    airports.binary_search_by(|airport| airport.iata.cmp(code.as_str())).ok().map(|index| &airports[index])
}

/// Whether the table knows this code (case-insensitive).
pub fn is_known(code: &str) -> bool {
    get(code).is_some()
}

/// Great-circle distance between two airports in kilometres (haversine formula, earth radius 6371 km).
pub fn distance_km(a: &Airport, b: &Airport) -> f64 {
    let (lat_a, lat_b) = (a.latitude.to_radians(), b.latitude.to_radians());
    let d_lat = lat_b - lat_a;
    let d_lon = (b.longitude - a.longitude).to_radians();
    let h = (d_lat / 2.0).sin().powi(2) + lat_a.cos() * lat_b.cos() * (d_lon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The airports the brief requires, so a careless edit of the CSV cannot drop one.
    const REQUIRED: &[&str] = &[
        "LHR", "LGW", "MAN", "EDI", "DUB", "CDG", "ORY", "AMS", "FRA", "MUC", "MAD", "BCN", "FCO", "MXP", "ZRH", "VIE",
        "CPH", "ARN", "OSL", "HEL", "IST", "LIS", "ATH", "BRU", "JFK", "EWR", "LGA", "BOS", "ORD", "ATL", "DFW", "IAH",
        "DEN", "LAX", "SFO", "SEA", "MIA", "IAD", "YYZ", "YVR", "MEX", "GRU", "EZE", "SCL", "BOG", "DXB", "DOH", "AUH",
        "SIN", "HKG", "NRT", "HND", "ICN", "PEK", "PVG", "BKK", "KUL", "DEL", "BOM", "SYD", "MEL", "AKL", "JNB", "CPT",
        "CAI", "NBO",
    ];

    #[test]
    fn every_code_is_three_uppercase_letters_and_unique() {
        let airports = all();
        assert!(airports.len() >= 60, "only {} airports", airports.len());
        for airport in airports {
            assert!(
                airport.iata.len() == 3 && airport.iata.bytes().all(|b| b.is_ascii_uppercase()),
                "bad code {:?}",
                airport.iata
            );
        }
        for pair in airports.windows(2) {
            assert_ne!(pair[0].iata, pair[1].iata, "duplicate code");
        }
    }

    #[test]
    fn every_row_is_plausible() {
        for airport in all() {
            assert!((-90.0..=90.0).contains(&airport.latitude), "{}", airport.iata);
            assert!((-180.0..=180.0).contains(&airport.longitude), "{}", airport.iata);
            assert!(!airport.name.is_empty() && !airport.city.is_empty() && !airport.country.is_empty());
        }
    }

    #[test]
    fn the_required_airports_are_present() {
        for code in REQUIRED {
            assert!(is_known(code), "{code} missing");
        }
    }

    #[test]
    fn heathrow_to_jfk_is_about_5540_km() {
        let km = distance_km(get("LHR").unwrap(), get("JFK").unwrap());
        assert!((km - 5540.0).abs() <= 30.0, "LHR-JFK = {km} km");
    }

    #[test]
    fn distance_is_symmetric_and_zero_to_itself() {
        let (syd, sin) = (get("SYD").unwrap(), get("SIN").unwrap());
        assert_eq!(distance_km(syd, syd), 0.0);
        assert!((distance_km(syd, sin) - distance_km(sin, syd)).abs() < 1e-9);
        // Sydney–Singapore is about 6,300 km.
        assert!((distance_km(syd, sin) - 6300.0).abs() < 100.0);
    }

    #[test]
    fn lookup_is_case_insensitive() {
        assert_eq!(get("lhr").unwrap().iata, "LHR");
        assert_eq!(get("Jfk").unwrap().city, "New York");
        assert!(is_known("cdg"));
    }

    #[test]
    fn unknown_codes_are_none() {
        assert!(get("XYZ").is_none());
        assert!(get("").is_none());
        assert!(get("LHRX").is_none());
        assert!(get("LH").is_none());
        assert!(!is_known("ZZZ"));
    }
}
