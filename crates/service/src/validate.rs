//! Checks many use cases share, written once: a request's date range.

use chrono::{Months, NaiveDate};

use crate::ledger::check_date;
use crate::{ServiceError, ServiceResult, Settings};

/// An inclusive range of dates from a request's `start_date` and
/// `end_date`: both plausible dates, the end not before the start. Each use
/// case then bounds its length with [`DateRange::at_most_days`] or
/// [`DateRange::at_most_months`], naming what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl DateRange {
    pub fn new(start: NaiveDate, end: NaiveDate) -> ServiceResult<DateRange> {
        check_date("start_date", start)?;
        check_date("end_date", end)?;
        if end < start {
            return Err(ServiceError::invalid(
                "end_date",
                "must not be before start_date",
            ));
        }
        Ok(DateRange { start, end })
    }

    /// Days from the start to the end, counting both.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }

    /// Refuses a range of more than `max` days counting both ends;
    /// `too_long` says what is limited ("the range may cover at most 62
    /// days").
    pub fn at_most_days(self, max: i64, too_long: &str) -> ServiceResult<DateRange> {
        if self.days() > max {
            return Err(ServiceError::invalid("end_date", too_long));
        }
        Ok(self)
    }

    /// Refuses an end more than `max` months after the start.
    pub fn at_most_months(self, max: u32, too_long: &str) -> ServiceResult<DateRange> {
        if self
            .start
            .checked_add_months(Months::new(max))
            .is_some_and(|limit| self.end > limit)
        {
            return Err(ServiceError::invalid("end_date", too_long));
        }
        Ok(self)
    }
}

/// A party of `n` people as a whole (`field` names it): within the
/// configured MIN_BOOKING_SIZE and MAX_BOOKING_SIZE. (A booking's party is
/// checked by adults, children and infants in `ledger::party`.)
pub fn party_size(settings: &Settings, field: &str, n: i64) -> ServiceResult<()> {
    let (min, max) = (settings.min_booking_size, settings.max_booking_size);
    if n < i64::from(min) || n > i64::from(max) {
        return Err(ServiceError::invalid(
            field,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::DateRange;
    use crate::ServiceError;

    fn d(s: &str) -> chrono::NaiveDate {
        s.parse().expect("date")
    }

    fn field(r: Result<DateRange, ServiceError>) -> Option<String> {
        match r {
            Err(ServiceError::Invalid { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn a_range_is_ordered_plausible_and_bounded() {
        let r = DateRange::new(d("2026-12-01"), d("2026-12-31")).expect("a month");
        assert_eq!(r.days(), 31);
        assert!(r.at_most_days(31, "x").is_ok());
        assert_eq!(field(r.at_most_days(30, "x")), Some("end_date".into()));
        assert_eq!(
            field(DateRange::new(d("2026-12-02"), d("2026-12-01"))),
            Some("end_date".into())
        );
        assert_eq!(
            field(DateRange::new(d("1800-01-01"), d("2026-12-01"))),
            Some("start_date".into())
        );
        let r = DateRange::new(d("2026-01-31"), d("2029-01-31")).expect("three years");
        assert!(r.at_most_months(36, "x").is_ok());
        let r = DateRange::new(d("2026-01-31"), d("2029-02-01")).expect("a day more");
        assert!(r.at_most_months(36, "x").is_err());
    }

    #[test]
    fn a_party_size_is_within_the_configured_bounds() {
        let settings = crate::Settings {
            min_booking_size: 2,
            max_booking_size: 8,
            ..crate::Settings::default()
        };
        assert!(super::party_size(&settings, "num_people", 2).is_ok());
        assert!(super::party_size(&settings, "num_people", 8).is_ok());
        for n in [1, 9, 0, -1] {
            match super::party_size(&settings, "num_people", n) {
                Err(ServiceError::Invalid { field, message }) => {
                    assert_eq!(field, "num_people");
                    assert_eq!(message, "must be between 2 and 8");
                }
                other => panic!("{n}: {other:?}"),
            }
        }
    }
}
