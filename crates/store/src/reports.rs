//! The operator's reports: aggregates over bookings, departures and the
//! waitlist for a period, each computed by the database in one statement.
//!
//! Dates that are columns (a departure's `slot_date`, a waitlist entry's
//! `requested_date`) are compared as they are. Instants (a booking's
//! `created_at`, `cancelled_at`) are counted on the calendar day where the
//! tour runs, which neither engine can compute alike (SQLite knows no time
//! zones): the caller passes the UTC instants at which each local day
//! starts, and the statement sorts them together with the rows' instants,
//! each row taking the day of the last start before it (a running `MAX`
//! over the sorted marks: one sort, however long the period). The starts
//! are a `VALUES` list of placeholders, so the text is the same on both
//! engines and carries no data.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sqlx::AssertSqlSafe;

use crate::{StoreResult, Tx, on};

/// Bookings made on one local day, in one currency.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BookingsMadeRow {
    /// Index of the day in the starts passed (0 is the first).
    pub day: i64,
    pub currency: String,
    pub bookings: i64,
    pub people: i64,
    /// `total_amount` of every booking made that day.
    pub gross: i64,
    /// What those bookings still bring: the total of those not cancelled,
    /// and for cancelled (or refunded) ones the total less the refund
    /// recorded, nothing when none was recorded.
    pub revenue: i64,
}

/// Bookings cancelled on one local day.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CancellationsRow {
    pub day: i64,
    pub cancellations: i64,
    pub people: i64,
}

/// `WITH days (i, lo) AS (VALUES (0, $3), (1, $4), ...)`: the start of
/// each of `days` days; `$1` and `$2` are the statement's own, and the
/// placeholder after the last start is the end of the last day.
fn days_list(days: usize) -> String {
    let starts: Vec<String> = (0..days).map(|i| format!("({i}, ${})", i + 3)).collect();
    format!("WITH days (i, lo) AS (VALUES {})", starts.join(", "))
}

/// Binds the time zone, the tour and the starts, and runs `$sql`.
macro_rules! fetch_by_day {
    ($tx:expr, $sql:expr, $timezone:expr, $tour_id:expr, $starts:expr) => {
        on!($tx, c => {
            let mut q = sqlx::query_as(AssertSqlSafe($sql.as_str()))
                .persistent(false)
                .bind($timezone)
                .bind($tour_id);
            for s in $starts {
                q = q.bind(*s);
            }
            q.fetch_all(c).await
        })
    };
}

/// Bookings made on each local day of the tours whose time zone is
/// `timezone` (only `tour_id` when given), per day and currency. `starts`
/// are the UTC instants at which each day starts, followed by the end of
/// the last day (so one more than the days). Days without bookings have
/// no row.
pub async fn bookings_made(
    tx: &mut Tx,
    timezone: &str,
    tour_id: Option<i64>,
    starts: &[DateTime<Utc>],
) -> StoreResult<Vec<BookingsMadeRow>> {
    let days = starts.len().saturating_sub(1);
    if days == 0 {
        return Ok(Vec::new());
    }
    // The day starts (kind 0) and the bookings (kind 1) sorted by instant,
    // a start before a booking at the same instant; a booking's day is the
    // greatest day index seen so far.
    let sql = format!(
        "{days}, marks AS ( \
           SELECT d.lo AS at, 0 AS kind, CAST(d.i AS BIGINT) AS day, CAST(NULL AS TEXT) AS currency, \
                  0 AS people, 0 AS gross, 0 AS revenue FROM days d \
           UNION ALL \
           SELECT b.created_at, 1, NULL, b.currency, b.total_people, b.total_amount, \
                  CASE WHEN b.status IN ('cancelled', 'refunded') \
                       THEN b.total_amount - COALESCE(b.refund_amount, b.total_amount) \
                       ELSE b.total_amount END \
           FROM bookings b JOIN tours t ON t.id = b.tour_id \
           WHERE t.timezone = $1 AND ($2 IS NULL OR t.id = $2) \
             AND b.created_at >= $3 AND b.created_at < ${end}), \
         placed AS (SELECT kind, currency, people, gross, revenue, \
           MAX(day) OVER (ORDER BY at, kind ROWS UNBOUNDED PRECEDING) AS day FROM marks) \
         SELECT day, currency, COUNT(*) AS bookings, CAST(SUM(people) AS BIGINT) AS people, \
           CAST(SUM(gross) AS BIGINT) AS gross, CAST(SUM(revenue) AS BIGINT) AS revenue \
         FROM placed WHERE kind = 1 GROUP BY day, currency ORDER BY day, currency",
        days = days_list(days),
        end = days + 3,
    );
    Ok(fetch_by_day!(tx, sql, timezone, tour_id, starts)?)
}

/// Bookings cancelled on each local day (by `cancelled_at`, which a refund
/// keeps), as [`bookings_made`] counts bookings made.
pub async fn cancellations(
    tx: &mut Tx,
    timezone: &str,
    tour_id: Option<i64>,
    starts: &[DateTime<Utc>],
) -> StoreResult<Vec<CancellationsRow>> {
    let days = starts.len().saturating_sub(1);
    if days == 0 {
        return Ok(Vec::new());
    }
    let sql = format!(
        "{days}, marks AS ( \
           SELECT d.lo AS at, 0 AS kind, CAST(d.i AS BIGINT) AS day, 0 AS people FROM days d \
           UNION ALL \
           SELECT b.cancelled_at, 1, NULL, b.total_people \
           FROM bookings b JOIN tours t ON t.id = b.tour_id \
           WHERE t.timezone = $1 AND ($2 IS NULL OR t.id = $2) \
             AND b.cancelled_at >= $3 AND b.cancelled_at < ${end}), \
         placed AS (SELECT kind, people, \
           MAX(day) OVER (ORDER BY at, kind ROWS UNBOUNDED PRECEDING) AS day FROM marks) \
         SELECT day, COUNT(*) AS cancellations, CAST(SUM(people) AS BIGINT) AS people \
         FROM placed WHERE kind = 1 GROUP BY day ORDER BY day",
        days = days_list(days),
        end = days + 3,
    );
    Ok(fetch_by_day!(tx, sql, timezone, tour_id, starts)?)
}

/// What counts as a departure that runs: not cancelled by the operator,
/// still produced by its schedule, not closed by a blackout.
macro_rules! running_departures {
    () => {
        "s.slot_date >= $1 AND s.slot_date <= $2 AND ($3 IS NULL OR s.tour_id = $3) \
         AND NOT s.is_cancelled AND NOT s.withdrawn AND s.blackout_id IS NULL"
    };
}

/// One tour's departures in a period, added up.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TourOccupancyRow {
    pub tour_id: i64,
    pub tour_name: String,
    pub departures: i64,
    pub capacity: i64,
    /// People on capacity-holding bookings (pending, confirmed, completed,
    /// no-show).
    pub booked: i64,
    /// Places held for waitlist offers.
    pub held: i64,
}

/// One departure's occupancy.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DepartureOccupancyRow {
    pub slot_id: i64,
    pub tour_id: i64,
    pub slot_date: NaiveDate,
    pub start_time: NaiveTime,
    pub capacity: i64,
    pub booked: i64,
    pub held: i64,
}

/// Per tour, its running departures dated `from..=to`, by tour name.
pub async fn occupancy_by_tour(
    tx: &mut Tx,
    from: NaiveDate,
    to: NaiveDate,
    tour_id: Option<i64>,
) -> StoreResult<Vec<TourOccupancyRow>> {
    const SQL: &str = concat!(
        "SELECT s.tour_id, t.name AS tour_name, COUNT(*) AS departures, \
         CAST(SUM(s.max_capacity) AS BIGINT) AS capacity, CAST(SUM(s.current_bookings) AS BIGINT) AS booked, \
         CAST(SUM(s.held_spots) AS BIGINT) AS held \
         FROM booking_slots s JOIN tours t ON t.id = s.tour_id WHERE ",
        running_departures!(),
        " GROUP BY s.tour_id, t.name ORDER BY t.name, s.tour_id"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(from).bind(to).bind(tour_id).fetch_all(c).await)?)
}

/// The running departures dated `from..=to`, in time order.
pub async fn occupancy_by_departure(
    tx: &mut Tx,
    from: NaiveDate,
    to: NaiveDate,
    tour_id: Option<i64>,
) -> StoreResult<Vec<DepartureOccupancyRow>> {
    const SQL: &str = concat!(
        "SELECT s.id AS slot_id, s.tour_id, s.slot_date, s.start_time, s.max_capacity AS capacity, \
         s.current_bookings AS booked, s.held_spots AS held FROM booking_slots s WHERE ",
        running_departures!(),
        " ORDER BY s.slot_date, s.start_time, s.tour_id, s.id"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(from).bind(to).bind(tour_id).fetch_all(c).await)?)
}

/// One tour's waitlist entries for dates in a period, by what became of them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WaitlistRow {
    pub tour_id: i64,
    pub tour_name: String,
    /// Every entry.
    pub joined: i64,
    /// Still waiting for an offer (`active`).
    pub waiting: i64,
    /// Made an offer at some point (`notified_at` is kept by a claim, an
    /// expiry and a leave; an offer withdrawn because its departure closed
    /// clears it, as the entry waits again).
    pub offered: i64,
    /// Holding an offer now (`notified`).
    pub offer_open: i64,
    pub converted: i64,
    /// Let an offer lapse.
    pub expired: i64,
    /// Left the waitlist.
    pub cancelled: i64,
}

/// Per tour, the waitlist entries whose requested date is in `from..=to`.
pub async fn waitlist_outcomes(
    tx: &mut Tx,
    from: NaiveDate,
    to: NaiveDate,
    tour_id: Option<i64>,
) -> StoreResult<Vec<WaitlistRow>> {
    const SQL: &str = "SELECT w.tour_id, t.name AS tour_name, COUNT(*) AS joined, \
         CAST(SUM(CASE WHEN w.status = 'active' THEN 1 ELSE 0 END) AS BIGINT) AS waiting, \
         CAST(SUM(CASE WHEN w.notified_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS offered, \
         CAST(SUM(CASE WHEN w.status = 'notified' THEN 1 ELSE 0 END) AS BIGINT) AS offer_open, \
         CAST(SUM(CASE WHEN w.status = 'converted' THEN 1 ELSE 0 END) AS BIGINT) AS converted, \
         CAST(SUM(CASE WHEN w.status = 'expired' THEN 1 ELSE 0 END) AS BIGINT) AS expired, \
         CAST(SUM(CASE WHEN w.status = 'cancelled' THEN 1 ELSE 0 END) AS BIGINT) AS cancelled \
         FROM waitlist_entries w JOIN tours t ON t.id = w.tour_id \
         WHERE w.requested_date >= $1 AND w.requested_date <= $2 AND ($3 IS NULL OR w.tour_id = $3) \
         GROUP BY w.tour_id, t.name ORDER BY t.name, w.tour_id";
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(from).bind(to).bind(tour_id).fetch_all(c).await)?)
}

/// One tour's outcomes of bookings on departures in a period.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NoShowRow {
    pub tour_id: i64,
    pub tour_name: String,
    pub completed: i64,
    pub no_show: i64,
    /// Still pending or confirmed on a departure that has started: nobody
    /// marked how it went.
    pub unmarked: i64,
}

/// Per tour, bookings marked completed or no-show, and those left unmarked
/// on departures started by `now`, on departures dated `from..=to`.
pub async fn no_shows(
    tx: &mut Tx,
    from: NaiveDate,
    to: NaiveDate,
    tour_id: Option<i64>,
    now: DateTime<Utc>,
) -> StoreResult<Vec<NoShowRow>> {
    const SQL: &str = "SELECT b.tour_id, t.name AS tour_name, \
         CAST(SUM(CASE WHEN b.status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS completed, \
         CAST(SUM(CASE WHEN b.status = 'no_show' THEN 1 ELSE 0 END) AS BIGINT) AS no_show, \
         CAST(SUM(CASE WHEN b.status IN ('pending', 'confirmed') THEN 1 ELSE 0 END) AS BIGINT) AS unmarked \
         FROM bookings b JOIN booking_slots s ON s.id = b.booking_slot_id JOIN tours t ON t.id = b.tour_id \
         WHERE s.slot_date >= $1 AND s.slot_date <= $2 AND ($3 IS NULL OR b.tour_id = $3) \
         AND (b.status IN ('completed', 'no_show') OR (b.status IN ('pending', 'confirmed') AND s.starts_at <= $4)) \
         GROUP BY b.tour_id, t.name ORDER BY t.name, b.tour_id";
    Ok(on!(tx, c => sqlx::query_as(SQL)
        .bind(from).bind(to).bind(tour_id).bind(now)
        .fetch_all(c).await)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_days_are_placeholders_after_the_statements_own() {
        assert_eq!(
            days_list(3),
            "WITH days (i, lo) AS (VALUES (0, $3), (1, $4), (2, $5))"
        );
    }
}
