//! Availability levels for the calendar, and the booking window.

use chrono::{DateTime, Duration, Utc};

/// How much room a day has, as the calendar colours it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Nothing left.
    None,
    /// Some room, under 20 %.
    Low,
    /// 20 % to under 50 % free.
    Medium,
    /// At least 50 % of the day's capacity free.
    High,
}

/// The level of `available` free spots out of `capacity`.
pub fn level(available: i64, capacity: i64) -> Level {
    if available <= 0 || capacity <= 0 {
        Level::None
    } else if available * 100 >= capacity * 50 {
        Level::High
    } else if available * 100 >= capacity * 20 {
        Level::Medium
    } else {
        Level::Low
    }
}

/// When bookings are open: from `advance_days` before a slot starts until
/// `cutoff_hours` before it.
#[derive(Debug, Clone, Copy)]
pub struct BookingWindow {
    pub cutoff_hours: u32,
    pub advance_days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowRefusal {
    /// Inside the cutoff (or already started).
    TooSoon,
    /// Further ahead than bookings open.
    TooFar,
}

impl BookingWindow {
    /// Is a slot starting at `starts_at` bookable at `now`? Open exactly at
    /// the cutoff and exactly at the advance limit.
    pub fn check(&self, starts_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), WindowRefusal> {
        if starts_at - Duration::hours(i64::from(self.cutoff_hours)) < now {
            Err(WindowRefusal::TooSoon)
        } else if starts_at > now + Duration::days(i64::from(self.advance_days)) {
            Err(WindowRefusal::TooFar)
        } else {
            Ok(())
        }
    }

    /// The last moment a slot starting at `starts_at` can be booked.
    pub fn closes_at(&self, starts_at: DateTime<Utc>) -> DateTime<Utc> {
        starts_at - Duration::hours(i64::from(self.cutoff_hours))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_at_their_thresholds() {
        assert_eq!(level(0, 10), Level::None);
        assert_eq!(level(1, 10), Level::Low);
        assert_eq!(level(2, 10), Level::Medium); // exactly 20 %
        assert_eq!(level(4, 10), Level::Medium);
        assert_eq!(level(5, 10), Level::High); // exactly 50 %
        assert_eq!(level(10, 10), Level::High);
        assert_eq!(level(1, 6), Level::Low); // 16.7 %
        assert_eq!(level(3, 0), Level::None);
    }

    #[test]
    fn window_edges_are_inclusive() {
        let w = BookingWindow {
            cutoff_hours: 24,
            advance_days: 90,
        };
        let now: DateTime<Utc> = "2026-06-01T12:00:00Z".parse().unwrap();
        let at_cutoff = now + Duration::hours(24);
        assert_eq!(w.check(at_cutoff, now), Ok(()));
        assert_eq!(
            w.check(at_cutoff - Duration::seconds(1), now),
            Err(WindowRefusal::TooSoon)
        );
        let at_limit = now + Duration::days(90);
        assert_eq!(w.check(at_limit, now), Ok(()));
        assert_eq!(
            w.check(at_limit + Duration::seconds(1), now),
            Err(WindowRefusal::TooFar)
        );
        assert_eq!(w.closes_at(at_cutoff), now);
    }
}
