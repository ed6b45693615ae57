//! The booking window's bounds.

use super::*;

/// The bounds the month view's query compares with accept exactly the
/// starts `BookingWindow::check` accepts, at both edges.
#[test]
fn window_bounds_are_the_booking_window() {
    let now = DateTime::parse_from_rfc3339("2027-03-26T22:59:59.250+00:00")
        .map(|t| t.with_timezone(&Utc))
        .expect("a time");
    for (cutoff_hours, advance_days) in [(0, 0), (0, 90), (24, 90), (48, 3650), (5, 1)] {
        let w = BookingWindow {
            cutoff_hours,
            advance_days,
        };
        let (start, end) = window_bounds(w, now);
        let edges = [start, end, now];
        for edge in edges {
            for ms in [-1001, -1000, -1, 0, 1, 1000] {
                let starts = edge + Duration::milliseconds(ms);
                assert_eq!(
                    w.check(starts, now).is_ok(),
                    start <= starts && starts <= end,
                    "{w:?} at {starts}"
                );
            }
        }
    }
}
