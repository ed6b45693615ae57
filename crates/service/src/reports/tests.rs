//! The reports' pure parts.

use super::*;
use crate::ServiceError;

fn d(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

fn period(start: &str, end: &str) -> Period {
    Period {
        start: d(start),
        end: d(end),
        tour_id: None,
    }
}

#[test]
fn a_period_is_two_years_at_most_and_never_reversed() {
    assert!(period("2026-01-01", "2026-01-01").check().is_ok());
    assert!(
        period("2026-01-01", "2028-01-01").check().is_ok(),
        "731 days"
    );
    let too_long = period("2026-01-01", "2028-01-02").check();
    assert!(
        matches!(&too_long, Err(ServiceError::Invalid { field, .. }) if field == "end_date"),
        "{too_long:?}"
    );
    let reversed = period("2026-01-02", "2026-01-01").check();
    assert!(
        matches!(&reversed, Err(ServiceError::Invalid { field, .. }) if field == "end_date"),
        "{reversed:?}"
    );
    assert!(period("1899-12-31", "1900-01-01").check().is_err());
}

#[test]
fn percentages_round_half_up_to_a_tenth() {
    assert_eq!(percent(1, 3), Some(33.3));
    assert_eq!(percent(2, 3), Some(66.7));
    assert_eq!(percent(1, 8), Some(12.5));
    assert_eq!(percent(9, 70), Some(12.9));
    assert_eq!(percent(0, 5), Some(0.0));
    assert_eq!(percent(5, 5), Some(100.0));
    assert_eq!(percent(1, 0), None);
}

#[test]
fn a_local_day_starts_at_its_own_midnight() {
    let tz: Tz = "Asia/Jerusalem".parse().expect("tz");
    // Winter: UTC+2; summer: UTC+3.
    assert_eq!(
        start_of_day(tz, d("2026-01-15")).to_rfc3339(),
        "2026-01-14T22:00:00+00:00"
    );
    assert_eq!(
        start_of_day(tz, d("2026-07-15")).to_rfc3339(),
        "2026-07-14T21:00:00+00:00"
    );
    let starts = day_starts(tz, &period("2026-01-15", "2026-01-16"));
    assert_eq!(starts.len(), 3);
    assert_eq!(starts[2].to_rfc3339(), "2026-01-16T22:00:00+00:00");
}

#[test]
fn a_day_whose_midnight_is_skipped_starts_when_clocks_resume() {
    // Santiago moved its clocks from 00:00 to 01:00 on 2023-09-03.
    let tz: Tz = "America/Santiago".parse().expect("tz");
    let start = start_of_day(tz, d("2023-09-03"));
    assert_eq!(start.to_rfc3339(), "2023-09-03T04:00:00+00:00");
    assert_eq!(
        start_of_day(tz, d("2023-09-02")).to_rfc3339(),
        "2023-09-02T04:00:00+00:00"
    );
    // That day is 23 hours long.
    let next = start_of_day(tz, d("2023-09-04"));
    assert_eq!((next - start).num_hours(), 23);
}
