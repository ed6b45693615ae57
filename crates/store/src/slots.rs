//! Booking slots: bookable departures with capacity. Capacity counters move
//! only through the conditional statements in `capacity.rs`; this file
//! creates, reads, locks and administers slots.
//!
//! Two closures are derived, never remembered: `blackout_id` (the active
//! blackout covering the departure, set only by [`refresh_blackouts`]) and
//! `withdrawn` (its schedule does not produce it now, set only by
//! [`set_withdrawn`] from the schedule's occurrences). `is_cancelled` is
//! the operator's departure cancel alone.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use crate::blackouts::BlackoutRow;
use crate::tours::TourRow;
use crate::{StoreResult, Tx, exec, locked, on};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SlotRow {
    pub id: i64,
    pub tour_id: i64,
    pub schedule_id: Option<i64>,
    pub slot_date: NaiveDate,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
    pub starts_at: DateTime<Utc>,
    pub max_capacity: i64,
    pub current_bookings: i64,
    pub held_spots: i64,
    /// `max_capacity - current_bookings - held_spots`, computed by the query.
    pub available_spots: i64,
    pub price_per_person: i64,
    pub is_available: bool,
    pub is_cancelled: bool,
    pub cancellation_reason: Option<String>,
    /// The active blackout covering this departure, if any.
    pub blackout_id: Option<i64>,
    /// That blackout's name.
    pub blackout_name: Option<String>,
    /// Its schedule no longer produces it (inactive or edited away).
    pub withdrawn: bool,
    /// People it needs to go ahead (0015); at most 1 is no minimum.
    pub min_capacity: i64,
    /// When its minimum is decided (0015).
    pub decision_at: Option<DateTime<Utc>>,
    /// `none`, `pending` or `guaranteed` (0015).
    pub guarantee: String,
    pub guaranteed_at: Option<DateTime<Utc>>,
    /// `minimum_reached`, `manual` or `deadline`.
    pub guaranteed_by: Option<String>,
}

impl SlotRow {
    /// Open for booking: not closed by the operator, not cancelled, not
    /// blacked out and still produced by its schedule.
    pub fn is_open(&self) -> bool {
        self.is_available && !self.is_cancelled && self.blackout_id.is_none() && !self.withdrawn
    }

    /// How the departure shows to people: cancelled by the operator, or
    /// closed by a blackout or its schedule while nobody is booked on it
    /// (a booked one stays for its bookings and is listed as a conflict).
    pub fn looks_cancelled(&self) -> bool {
        self.is_cancelled || ((self.blackout_id.is_some() || self.withdrawn) && self.is_empty())
    }

    /// Why it looks cancelled or closed, for people.
    pub fn closure_reason(&self) -> Option<String> {
        if self.is_cancelled {
            return self.cancellation_reason.clone();
        }
        if self.blackout_id.is_some() {
            return Some(
                self.blackout_name
                    .clone()
                    .unwrap_or_else(|| "blackout".into()),
            );
        }
        self.withdrawn.then(|| "schedule withdrawn".into())
    }

    /// Waiting for its minimum: not guaranteed, not called off.
    pub fn is_pending_minimum(&self) -> bool {
        self.guarantee == GUARANTEE_PENDING && !self.is_cancelled
    }

    /// People still needed to reach the minimum (0 unless pending).
    pub fn people_needed(&self) -> i64 {
        if self.is_pending_minimum() {
            (self.min_capacity - self.current_bookings).max(0)
        } else {
            0
        }
    }

    /// Where it stands on its minimum.
    pub fn standing(&self) -> Standing {
        Standing {
            guarantee: self.guarantee.clone(),
            min_capacity: self.min_capacity,
            booked: self.current_bookings,
            decision_at: self.decision_at,
            guaranteed_at: self.guaranteed_at,
            guaranteed_by: self.guaranteed_by.clone(),
            departure_cancelled: self.looks_cancelled(),
            called_off: self.is_cancelled
                && self.cancellation_reason.as_deref() == Some(MINIMUM_NOT_REACHED),
        }
    }

    /// Holds no booked people and no held spots.
    pub fn is_empty(&self) -> bool {
        self.current_bookings == 0 && self.held_spots == 0
    }
}

#[macro_export]
#[doc(hidden)]
macro_rules! slot_cols {
    () => {
        "id, tour_id, schedule_id, slot_date, start_time, end_time, starts_at, max_capacity, current_bookings, \
         held_spots, max_capacity - current_bookings - held_spots AS available_spots, price_per_person, \
         is_available, is_cancelled, cancellation_reason, blackout_id, \
         (SELECT bd.name FROM blackout_dates bd WHERE bd.id = booking_slots.blackout_id) AS blackout_name, withdrawn, \
         min_capacity, decision_at, guarantee, guaranteed_at, guaranteed_by"
    };
}

/// A departure's standing on its minimum, as customers and admins see it
/// (also read with each booking: `standing_cols!`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Standing {
    pub guarantee: String,
    pub min_capacity: i64,
    /// People booked on it now.
    pub booked: i64,
    pub decision_at: Option<DateTime<Utc>>,
    pub guaranteed_at: Option<DateTime<Utc>>,
    pub guaranteed_by: Option<String>,
    /// Cancelled, for whatever reason.
    pub departure_cancelled: bool,
    /// Cancelled because it did not reach its minimum.
    pub called_off: bool,
}

impl Standing {
    /// `none`, `pending`, `guaranteed` or `cancelled` (the departure is
    /// cancelled: called off for its minimum, or by the operator).
    pub fn status(&self) -> &str {
        if self.departure_cancelled {
            "cancelled"
        } else {
            &self.guarantee
        }
    }

    /// People still needed (0 unless pending).
    pub fn needed(&self) -> i64 {
        if self.status() == GUARANTEE_PENDING {
            (self.min_capacity - self.booked).max(0)
        } else {
            0
        }
    }
}

/// The columns of [`Standing`] on a query over `booking_slots s`.
#[macro_export]
#[doc(hidden)]
macro_rules! standing_cols {
    () => {
        "s.guarantee, s.min_capacity, s.current_bookings AS booked, s.decision_at, s.guaranteed_at, \
         s.guaranteed_by, s.is_cancelled AS departure_cancelled, \
         COALESCE(s.is_cancelled AND s.cancellation_reason = 'minimum_not_reached', FALSE) AS called_off"
    };
}

/// Where a departure stands on its minimum: see migration 0015.
pub const GUARANTEE_NONE: &str = "none";
pub const GUARANTEE_PENDING: &str = "pending";
pub const GUARANTEE_GUARANTEED: &str = "guaranteed";
/// The cancellation reason of a departure called off for its minimum.
pub const MINIMUM_NOT_REACHED: &str = "minimum_not_reached";

pub struct NewSlot {
    pub tour_id: i64,
    pub schedule_id: Option<i64>,
    pub slot_date: NaiveDate,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
    pub starts_at: DateTime<Utc>,
    pub max_capacity: i64,
    pub price_per_person: i64,
    pub min_capacity: i64,
    pub decision_at: Option<DateTime<Utc>>,
    /// `none` or `pending`.
    pub guarantee: &'static str,
}

/// Inserts a slot unless its schedule already has one on that date (at
/// any time); `None` when it existed (generation is idempotent).
pub async fn insert_slot_if_absent(
    tx: &mut Tx,
    s: &NewSlot,
    now: DateTime<Utc>,
) -> StoreResult<Option<SlotRow>> {
    const SQL: &str = concat!(
        "INSERT INTO booking_slots (tour_id, schedule_id, slot_date, start_time, end_time, starts_at, max_capacity, \
         price_per_person, created_at, updated_at, min_capacity, decision_at, guarantee) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12) \
         ON CONFLICT (schedule_id, slot_date) DO NOTHING RETURNING ",
        slot_cols!()
    );
    Ok(on!(tx, c => sqlx::query_as(SQL)
        .bind(s.tour_id).bind(s.schedule_id).bind(s.slot_date).bind(s.start_time).bind(s.end_time)
        .bind(s.starts_at).bind(s.max_capacity).bind(s.price_per_person).bind(now)
        .bind(s.min_capacity).bind(s.decision_at).bind(s.guarantee)
        .fetch_optional(c).await)?)
}

pub async fn slot_by_id(tx: &mut Tx, id: i64) -> StoreResult<Option<SlotRow>> {
    const SQL: &str = concat!("SELECT ", slot_cols!(), " FROM booking_slots WHERE id = $1");
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(id).fetch_optional(c).await)?)
}

/// A tour's slots from `from` to `to` inclusive, in time order.
pub async fn slots_between(
    tx: &mut Tx,
    tour_id: i64,
    from: NaiveDate,
    to: NaiveDate,
) -> StoreResult<Vec<SlotRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        slot_cols!(),
        " FROM booking_slots WHERE tour_id = $1 AND slot_date >= $2 AND slot_date <= $3 ORDER BY slot_date, start_time, id"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(tour_id).bind(from).bind(to).fetch_all(c).await)?)
}

/// Whether a customer could add people to the departure (room aside) when
/// bookings are open for departures starting from `$4` to `$5` inclusive:
/// [`SlotRow::is_open`] and inside that window. `ledger::refusal` (with
/// `ledger::window`) is the rule; this is the same rule over the rows, so
/// the month view can total its days in the database (the tour's own
/// `is_active`, the rule's first check, is the caller's). The API test
/// `the_month_view_adds_up_what_the_slots_listing_says` holds the two
/// together, edges of the window included.
macro_rules! bookable_in_window {
    () => {
        "(is_available AND NOT is_cancelled AND blackout_id IS NULL AND NOT withdrawn \
         AND starts_at >= $4 AND starts_at <= $5)"
    };
}

/// `bookable_in_window!` with a spot left: what a customer could book now
/// (`ledger::bookability`).
macro_rules! bookable_with_room {
    () => {
        concat!(
            bookable_in_window!(),
            " AND max_capacity - current_bookings - held_spots > 0"
        )
    };
}

/// How a departure shows to people: [`SlotRow::looks_cancelled`].
macro_rules! looks_cancelled {
    () => {
        "(is_cancelled OR ((blackout_id IS NOT NULL OR withdrawn) AND current_bookings = 0 AND held_spots = 0))"
    };
}

/// NULL in each of the tour's and the blackout's own columns of a
/// [`tour_calendar`] row, typed: for the first branch of the union, which
/// PostgreSQL types a later branch's bare NULL from.
macro_rules! typed_tour_and_blackout_nulls {
    () => {
        "CAST(NULL AS TEXT) AS name, CAST(NULL AS TEXT) AS description, \
         CAST(NULL AS BOOLEAN) AS is_active, CAST(NULL AS TIMESTAMPTZ) AS created_at, \
         CAST(NULL AS BIGINT) AS duration_minutes, CAST(NULL AS BIGINT) AS base_price, \
         CAST(NULL AS TEXT) AS currency, CAST(NULL AS TEXT) AS timezone, \
         CAST(NULL AS TEXT) AS cancellation_policy, CAST(NULL AS TEXT) AS party_rules, \
         CAST(NULL AS DATE) AS start_date, CAST(NULL AS DATE) AS end_date, \
         CAST(NULL AS TEXT) AS blackout_type"
    };
}

/// The tour's own columns, in the order of `typed_tour_and_blackout_nulls!`
/// (its id goes in the shared `id` column); the blackout's follow.
macro_rules! tour_part {
    () => {
        "name, description, is_active, created_at, duration_minutes, base_price, currency, timezone, \
         cancellation_policy, party_rules"
    };
}

/// A blackout's own columns, in the same order (its id and tour id go in
/// the shared `id` and `tour_id` columns).
macro_rules! blackout_part {
    () => {
        "name, description, is_active, created_at, NULL, NULL, NULL, NULL, NULL, NULL, \
         start_date, end_date, blackout_type"
    };
}

/// The active blackouts that apply to tour `$1` (its own and global ones)
/// overlapping `$2..=$3`.
macro_rules! blackouts_of_range {
    () => {
        "FROM blackout_dates WHERE is_active AND (tour_id IS NULL OR tour_id = $1) \
         AND start_date <= $3 AND end_date >= $2"
    };
}

/// Decodes a union's rows told apart by their first column (`part`),
/// running the arm of each row's part with the row bound to `$row`.
macro_rules! decode_parts {
    ($rows:expr, |$row:ident| { $($part:literal => $body:expr),+ $(,)? }) => {{
        use sqlx::Row;
        for $row in &$rows {
            match $row.try_get::<i64, _>(0)? {
                $($part => $body,)+
                other => {
                    return Err(crate::StoreError::Database(sqlx::Error::Protocol(format!(
                        "unexpected row kind {other}"
                    ))));
                }
            }
        }
    }};
}

/// What the calendar shows of one tour over `from..=to`, read by
/// [`tour_calendar`] in one statement.
#[derive(Debug, Clone)]
pub struct TourCalendar {
    pub tour: TourRow,
    /// The active blackouts that apply to the tour (its own and global
    /// ones) overlapping the range, by start date (as
    /// [`crate::blackouts::active_blackouts_between`]).
    pub blackouts: Vec<BlackoutRow>,
    /// Its departures in the range, in time order (as [`slots_between`]).
    pub slots: Vec<SlotRow>,
}

/// A tour, the active blackouts that apply to it and its departures over
/// `from..=to`, in one round trip (#19: the availability check reads
/// everything it decides on with one statement); None when there is no
/// such tour.
///
/// One `UNION ALL` told apart by `part` (0 the tour, 1 a blackout, 2 a
/// departure); each row carries its own kind's columns (decoded by name
/// with that kind's `FromRow`) and NULL in the others'.
pub async fn tour_calendar(
    tx: &mut Tx,
    tour_id: i64,
    from: NaiveDate,
    to: NaiveDate,
) -> StoreResult<Option<TourCalendar>> {
    // NULL for each slot column after id and tour_id.
    macro_rules! slot_nulls {
        () => {
            "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
             NULL, NULL, NULL, NULL, NULL, NULL, NULL"
        };
    }
    const SQL: &str = concat!(
        "SELECT CAST(2 AS BIGINT) AS part, ",
        slot_cols!(),
        ", ",
        typed_tour_and_blackout_nulls!(),
        " FROM booking_slots WHERE tour_id = $1 AND slot_date >= $2 AND slot_date <= $3 \
         UNION ALL SELECT 0, id, NULL, ",
        slot_nulls!(),
        ", ",
        tour_part!(),
        ", NULL, NULL, NULL FROM tours WHERE id = $1 \
         UNION ALL SELECT 1, id, tour_id, ",
        slot_nulls!(),
        ", ",
        blackout_part!(),
        " ",
        blackouts_of_range!()
    );
    use sqlx::FromRow;
    let mut tour = None;
    let mut blackouts = Vec::new();
    let mut slots = Vec::new();
    on!(tx, c => {
        let rows = sqlx::query(SQL).bind(tour_id).bind(from).bind(to).fetch_all(c).await?;
        decode_parts!(rows, |row| {
            0 => tour = Some(TourRow::from_row(row)?),
            1 => blackouts.push(BlackoutRow::from_row(row)?),
            2 => slots.push(SlotRow::from_row(row)?),
        });
    });
    let Some(tour) = tour else {
        return Ok(None);
    };
    blackouts.sort_by_key(|b| (b.start_date, b.id));
    slots.sort_by_key(|s| (s.slot_date, s.start_time, s.id));
    Ok(Some(TourCalendar {
        tour,
        blackouts,
        slots,
    }))
}

/// One day of a tour's month, totalled over its departures that do not
/// look cancelled ([`SlotRow::looks_cancelled`]); "bookable" is
/// `bookable_in_window!` (see [`month_summary`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayTotals {
    pub slot_date: NaiveDate,
    pub num_time_slots: i64,
    /// Bookable departures.
    pub num_bookable_slots: i64,
    /// Free spots on the bookable departures.
    pub available_spots: i64,
    /// Capacity of the bookable departures.
    pub capacity: i64,
    /// The lowest price among bookable departures with a spot left.
    pub min_price: Option<i64>,
}

/// A tour's month as the calendar shows it, read by [`month_summary`] in
/// one statement.
#[derive(Debug, Clone)]
pub struct MonthSummary {
    pub tour: TourRow,
    /// As [`TourCalendar::blackouts`].
    pub blackouts: Vec<BlackoutRow>,
    /// The days with departures, by date.
    pub days: Vec<DayTotals>,
    /// The first date after the month (up to the horizon) with a bookable
    /// departure with a spot left.
    pub next_after: Option<NaiveDate>,
}

/// A tour, the active blackouts that apply to it over `first..=last`, the
/// totals of each day of that range, and the first date after it up to
/// `horizon` with a bookable departure with a spot left, in one round trip
/// (#19). Bookable: open, and starting from `window_start` to `window_end`
/// (what `ledger::window` accepts now). None when there is no such tour.
///
/// The day totals come packed in one text column of the tour's row (see
/// [`parse_day_totals`]) rather than as a row per day: on SQLite, sqlx
/// copies every value of every row (NULLs included) with its own
/// allocation and hands each row over from its worker thread, and a row
/// per day in this union (wide enough for the tour's and the blackouts'
/// columns) cost more than the query itself: about 250 µs of CPU for a
/// month of four departures a day, against 100 µs packed. On PostgreSQL
/// the two cost the same.
pub async fn month_summary(
    tx: &mut Tx,
    tour_id: i64,
    first: NaiveDate,
    last: NaiveDate,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    horizon: NaiveDate,
) -> StoreResult<Option<MonthSummary>> {
    const SQL: &str = concat!(
        "SELECT CAST(0 AS BIGINT) AS part, id, CAST(NULL AS BIGINT) AS tour_id, ",
        tour_part!(),
        ", CAST(NULL AS DATE) AS start_date, CAST(NULL AS DATE) AS end_date, \
         CAST(NULL AS TEXT) AS blackout_type, \
         (SELECT string_agg(CAST(slot_date AS TEXT) || ' ' || CAST(n AS TEXT) || ' ' || CAST(bookable AS TEXT) \
         || ' ' || CAST(available AS TEXT) || ' ' || CAST(capacity AS TEXT) || ' ' \
         || COALESCE(CAST(min_price AS TEXT), '-'), ',') FROM (\
         SELECT slot_date, CAST(COUNT(*) AS BIGINT) AS n, \
         CAST(SUM(CASE WHEN ",
        bookable_in_window!(),
        " THEN 1 ELSE 0 END) AS BIGINT) AS bookable, \
         CAST(SUM(CASE WHEN ",
        bookable_with_room!(),
        " THEN max_capacity - current_bookings - held_spots ELSE 0 END) AS BIGINT) AS available, \
         CAST(SUM(CASE WHEN ",
        bookable_in_window!(),
        " THEN max_capacity ELSE 0 END) AS BIGINT) AS capacity, \
         MIN(CASE WHEN ",
        bookable_with_room!(),
        " THEN price_per_person END) AS min_price \
         FROM booking_slots WHERE tour_id = $1 AND slot_date >= $2 AND slot_date <= $3 AND NOT ",
        looks_cancelled!(),
        " GROUP BY slot_date) days) AS days, \
         (SELECT slot_date FROM booking_slots WHERE tour_id = $1 AND slot_date > $3 AND slot_date <= $6 AND ",
        bookable_with_room!(),
        " ORDER BY slot_date LIMIT 1) AS next_after \
         FROM tours WHERE id = $1 \
         UNION ALL SELECT 1, id, tour_id, ",
        blackout_part!(),
        ", NULL, NULL ",
        blackouts_of_range!()
    );
    use sqlx::FromRow;
    let mut found = None;
    let mut blackouts = Vec::new();
    on!(tx, c => {
        let rows = sqlx::query(SQL)
            .bind(tour_id).bind(first).bind(last).bind(window_start).bind(window_end).bind(horizon)
            .fetch_all(c).await?;
        decode_parts!(rows, |row| {
            0 => {
                let days: Option<String> = row.try_get("days")?;
                let next_after: Option<NaiveDate> = row.try_get("next_after")?;
                found = Some((TourRow::from_row(row)?, days, next_after));
            },
            1 => blackouts.push(BlackoutRow::from_row(row)?),
        });
    });
    let Some((tour, days, next_after)) = found else {
        return Ok(None);
    };
    let mut days = parse_day_totals(days.as_deref().unwrap_or_default())?;
    days.sort_by_key(|d| d.slot_date);
    blackouts.sort_by_key(|b| (b.start_date, b.id));
    Ok(Some(MonthSummary {
        tour,
        blackouts,
        days,
        next_after,
    }))
}

/// Reads [`month_summary`]'s packed day totals: days separated by `,`,
/// each `date count bookable available capacity min_price` separated by
/// single spaces, the date as `YYYY-MM-DD` (SQLite stores it so; sqlx sets
/// PostgreSQL's `DateStyle` to ISO), `-` for no price; empty for no days.
fn parse_day_totals(text: &str) -> StoreResult<Vec<DayTotals>> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|day| {
            let malformed = || {
                crate::StoreError::Database(sqlx::Error::Protocol(format!(
                    "malformed day totals `{day}`"
                )))
            };
            let fields: Vec<&str> = day.split(' ').collect();
            let [date, n, bookable, available, capacity, min_price] = fields[..] else {
                return Err(malformed());
            };
            let int = |f: &str| f.parse::<i64>().map_err(|_| malformed());
            Ok(DayTotals {
                slot_date: date.parse().map_err(|_| malformed())?,
                num_time_slots: int(n)?,
                num_bookable_slots: int(bookable)?,
                available_spots: int(available)?,
                capacity: int(capacity)?,
                min_price: match min_price {
                    "-" => None,
                    p => Some(int(p)?),
                },
            })
        })
        .collect()
}

/// What a tour offers: the lowest price and the first date among its
/// departures from `from` to `to` that a customer could book now with a
/// spot left (`bookable_with_room!`, as in [`month_summary`]; the tour's
/// own `is_active` is the caller's). Both None when there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct OfferRow {
    pub tour_id: i64,
    pub from_price: Option<i64>,
    pub next_available: Option<NaiveDate>,
}

/// Tour `tour_id`'s [`OfferRow`], totalled in the database: one row back
/// however many departures the range holds (the tour page used to read
/// every departure of the next months and decide each in Rust).
pub async fn offer(
    tx: &mut Tx,
    tour_id: i64,
    from: NaiveDate,
    to: NaiveDate,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
) -> StoreResult<OfferRow> {
    const SQL: &str = concat!(
        "SELECT CAST($1 AS BIGINT) AS tour_id, MIN(price_per_person) AS from_price, \
         MIN(slot_date) AS next_available FROM booking_slots \
         WHERE tour_id = $1 AND slot_date >= $2 AND slot_date <= $3 AND ",
        bookable_with_room!()
    );
    Ok(on!(tx, c => sqlx::query_as(SQL)
        .bind(tour_id).bind(from).bind(to).bind(window_start).bind(window_end)
        .fetch_one(c).await)?)
}

/// [`offer`] for every tour whose `is_active` is `active`, in one
/// statement (the tour list used to ask once per tour); a tour with nothing
/// to offer has no row.
pub async fn offers(
    tx: &mut Tx,
    active: bool,
    from: NaiveDate,
    to: NaiveDate,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
) -> StoreResult<Vec<OfferRow>> {
    const SQL: &str = concat!(
        "SELECT tour_id, MIN(price_per_person) AS from_price, MIN(slot_date) AS next_available \
         FROM booking_slots WHERE tour_id IN (SELECT id FROM tours WHERE is_active = $1) \
         AND slot_date >= $2 AND slot_date <= $3 AND ",
        bookable_with_room!(),
        " GROUP BY tour_id"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL)
        .bind(active).bind(from).bind(to).bind(window_start).bind(window_end)
        .fetch_all(c).await)?)
}

/// The first date from `from` to `to` on which tour `tour_id` has a
/// bookable departure (as in [`month_summary`]) with a spot left.
pub async fn next_bookable_date(
    tx: &mut Tx,
    tour_id: i64,
    from: NaiveDate,
    to: NaiveDate,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
) -> StoreResult<Option<NaiveDate>> {
    const SQL: &str = concat!(
        "SELECT slot_date FROM booking_slots WHERE tour_id = $1 AND slot_date >= $2 AND slot_date <= $3 AND ",
        bookable_with_room!(),
        " ORDER BY slot_date LIMIT 1"
    );
    Ok(on!(tx, c => sqlx::query_scalar(SQL)
        .bind(tour_id).bind(from).bind(to).bind(window_start).bind(window_end)
        .fetch_optional(c).await)?)
}

/// A tour's departures over `from..=to` that are open
/// ([`SlotRow::is_open`]), start from `window_start` to `window_end` (the
/// starts a customer may book now, as [`month_summary`] takes them) and
/// have at least `room` spots left, in time order: a narrowing for a
/// search of what a party could book now (the caller decides each with the
/// booking rule; this only leaves out what that rule refuses).
pub async fn open_slots_between(
    tx: &mut Tx,
    tour_id: i64,
    from: NaiveDate,
    to: NaiveDate,
    room: i64,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
) -> StoreResult<Vec<SlotRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        slot_cols!(),
        " FROM booking_slots WHERE tour_id = $1 AND slot_date >= $2 AND slot_date <= $3 \
         AND is_available AND NOT is_cancelled AND blackout_id IS NULL AND NOT withdrawn \
         AND starts_at >= $5 AND starts_at <= $6 \
         AND max_capacity - current_bookings - held_spots >= $4 ORDER BY slot_date, start_time, id"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL)
        .bind(tour_id).bind(from).bind(to).bind(room).bind(window_start).bind(window_end)
        .fetch_all(c).await)?)
}

/// Every tour's slots from `from` to `to` (the admin's week view).
pub async fn all_slots_between(
    tx: &mut Tx,
    from: NaiveDate,
    to: NaiveDate,
) -> StoreResult<Vec<SlotRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        slot_cols!(),
        " FROM booking_slots WHERE slot_date >= $1 AND slot_date <= $2 ORDER BY slot_date, start_time, tour_id, id"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(from).bind(to).fetch_all(c).await)?)
}

/// Slots a blackout covers that still hold bookings or holds (not cancelled):
/// the conflicts an operator decides about.
pub async fn occupied_slots_between(
    tx: &mut Tx,
    tour_id: Option<i64>,
    from: NaiveDate,
    to: NaiveDate,
) -> StoreResult<Vec<SlotRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        slot_cols!(),
        " FROM booking_slots WHERE ($1 IS NULL OR tour_id = $1) AND slot_date >= $2 AND slot_date <= $3 \
         AND NOT is_cancelled AND (current_bookings > 0 OR held_spots > 0) ORDER BY slot_date, start_time, id"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(tour_id).bind(from).bind(to).fetch_all(c).await)?)
}

/// Changes a slot's capacity, price or open flag. A capacity below what is
/// booked and held violates the capacity CHECK (`StoreError::Check`).
pub async fn patch_slot(
    tx: &mut Tx,
    id: i64,
    max_capacity: Option<i64>,
    price_per_person: Option<i64>,
    is_available: Option<bool>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    const SQL: &str = "UPDATE booking_slots SET max_capacity = COALESCE($2, max_capacity), \
         price_per_person = COALESCE($3, price_per_person), is_available = COALESCE($4, is_available), \
         updated_at = $5, revision = revision + 1 WHERE id = $1";
    Ok(exec!(
        tx,
        sqlx::query(SQL)
            .bind(id)
            .bind(max_capacity)
            .bind(price_per_person)
            .bind(is_available)
            .bind(now)
    )? > 0)
}

/// Marks a slot cancelled (bookings on it are cancelled by the caller).
pub async fn cancel_slot(
    tx: &mut Tx,
    id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    const SQL: &str = "UPDATE booking_slots SET is_cancelled = TRUE, cancellation_reason = $2, updated_at = $3, \
         revision = revision + 1 WHERE id = $1 AND NOT is_cancelled";
    Ok(exec!(tx, sqlx::query(SQL).bind(id).bind(reason).bind(now))? > 0)
}

/// Counts the unbooked slots in a range that are not cancelled, blacked out
/// or withdrawn yet (what a new blackout closes).
pub async fn count_free_slots_between(
    tx: &mut Tx,
    tour_id: Option<i64>,
    from: NaiveDate,
    to: NaiveDate,
) -> StoreResult<u64> {
    const SQL: &str = "SELECT COUNT(*) FROM booking_slots WHERE ($1 IS NULL OR tour_id = $1) \
         AND slot_date >= $2 AND slot_date <= $3 AND NOT is_cancelled AND blackout_id IS NULL AND NOT withdrawn \
         AND current_bookings = 0 AND held_spots = 0";
    let n: i64 =
        on!(tx, c => sqlx::query_scalar(SQL).bind(tour_id).bind(from).bind(to).fetch_one(c).await)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Counts the unbooked, uncancelled slots a blackout closes that no other
/// active blackout covers: what removing it reopens.
pub async fn count_reopened_by_removal(tx: &mut Tx, blackout_id: i64) -> StoreResult<u64> {
    const SQL: &str = "SELECT COUNT(*) FROM booking_slots WHERE blackout_id = $1 AND NOT is_cancelled \
         AND NOT withdrawn AND current_bookings = 0 AND held_spots = 0 AND NOT EXISTS ( \
             SELECT 1 FROM blackout_dates b WHERE b.is_active AND b.id <> $1 \
             AND (b.tour_id IS NULL OR b.tour_id = booking_slots.tour_id) \
             AND booking_slots.slot_date >= b.start_date AND booking_slots.slot_date <= b.end_date)";
    let n: i64 = on!(tx, c => sqlx::query_scalar(SQL).bind(blackout_id).fetch_one(c).await)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Recomputes `blackout_id` from the active blackouts for the slots of
/// `tour_id` (every tour when None) dated `from..=to`: the one statement
/// that sets it. Only slots whose closure changes are written (and get a
/// new revision); returns how many. Callers lock those slots first
/// ([`lock_slots_between`]).
pub async fn refresh_blackouts(
    tx: &mut Tx,
    tour_id: Option<i64>,
    from: NaiveDate,
    to: NaiveDate,
) -> StoreResult<u64> {
    macro_rules! covering {
        () => {
            "(SELECT MIN(b.id) FROM blackout_dates b WHERE b.is_active \
             AND (b.tour_id IS NULL OR b.tour_id = booking_slots.tour_id) \
             AND booking_slots.slot_date >= b.start_date AND booking_slots.slot_date <= b.end_date)"
        };
    }
    const SQL: &str = concat!(
        "UPDATE booking_slots SET blackout_id = ",
        covering!(),
        ", revision = revision + 1 \
         WHERE ($1 IS NULL OR tour_id = $1) AND slot_date >= $2 AND slot_date <= $3 \
         AND blackout_id IS DISTINCT FROM ",
        covering!()
    );
    exec!(tx, sqlx::query(SQL).bind(tour_id).bind(from).bind(to))
}

/// Blacked-out departures in a range that still hold waitlist spots.
pub async fn blacked_out_with_holds(
    tx: &mut Tx,
    tour_id: Option<i64>,
    from: NaiveDate,
    to: NaiveDate,
) -> StoreResult<Vec<i64>> {
    const SQL: &str = "SELECT id FROM booking_slots WHERE ($1 IS NULL OR tour_id = $1) AND slot_date >= $2 \
         AND slot_date <= $3 AND blackout_id IS NOT NULL AND held_spots > 0 ORDER BY id";
    Ok(on!(tx, c => sqlx::query_scalar(SQL).bind(tour_id).bind(from).bind(to).fetch_all(c).await)?)
}

/// Marks a schedule's departure withdrawn (its schedule does not produce
/// it now) or produced again.
pub async fn set_withdrawn(
    tx: &mut Tx,
    id: i64,
    withdrawn: bool,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    const SQL: &str = "UPDATE booking_slots SET withdrawn = $2, updated_at = $3, revision = revision + 1 \
         WHERE id = $1 AND withdrawn <> $2";
    Ok(exec!(tx, sqlx::query(SQL).bind(id).bind(withdrawn).bind(now))? > 0)
}

/// Moves a departure to a new local time (a schedule edit), with its
/// decision deadline (the caller keeps it the same time before the start).
#[allow(clippy::too_many_arguments)]
pub async fn reschedule(
    tx: &mut Tx,
    id: i64,
    slot_date: NaiveDate,
    start_time: NaiveTime,
    end_time: NaiveTime,
    starts_at: DateTime<Utc>,
    decision_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    const SQL: &str = "UPDATE booking_slots SET slot_date = $2, start_time = $3, end_time = $4, starts_at = $5, \
         updated_at = $6, decision_at = $7, revision = revision + 1 WHERE id = $1";
    exec!(
        tx,
        sqlx::query(SQL)
            .bind(id)
            .bind(slot_date)
            .bind(start_time)
            .bind(end_time)
            .bind(starts_at)
            .bind(now)
            .bind(decision_at)
    )?;
    Ok(())
}

// ---- guaranteed departures (0015) ----

/// Guarantees a pending, uncancelled departure (`by`: `minimum_reached`,
/// `manual`, `deadline`); false when it was not pending any more (someone
/// else decided it first: each departure is decided exactly once).
pub async fn guarantee(tx: &mut Tx, id: i64, by: &str, now: DateTime<Utc>) -> StoreResult<bool> {
    const SQL: &str = "UPDATE booking_slots SET guarantee = 'guaranteed', guaranteed_at = $2, guaranteed_by = $3, \
         updated_at = $2, revision = revision + 1 WHERE id = $1 AND guarantee = 'pending' AND NOT is_cancelled";
    Ok(exec!(tx, sqlx::query(SQL).bind(id).bind(now).bind(by))? == 1)
}

/// Sets a departure's minimum, deadline and standing (a schedule edit or
/// the adoption of a departure made before 0015). Never touches one that
/// is guaranteed or cancelled.
pub async fn set_minimum(
    tx: &mut Tx,
    id: i64,
    min_capacity: i64,
    decision_at: Option<DateTime<Utc>>,
    guarantee: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    const SQL: &str = "UPDATE booking_slots SET min_capacity = $2, decision_at = $3, guarantee = $4, \
         updated_at = $5, revision = revision + 1 \
         WHERE id = $1 AND guarantee <> 'guaranteed' AND NOT is_cancelled";
    Ok(exec!(
        tx,
        sqlx::query(SQL)
            .bind(id)
            .bind(min_capacity)
            .bind(decision_at)
            .bind(guarantee)
            .bind(now)
    )? == 1)
}

/// Moves a pending departure's decision deadline (an admin's extension).
pub async fn set_decision_at(
    tx: &mut Tx,
    id: i64,
    decision_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    const SQL: &str = "UPDATE booking_slots SET decision_at = $2, updated_at = $3, revision = revision + 1 \
         WHERE id = $1 AND guarantee = 'pending' AND NOT is_cancelled";
    Ok(exec!(tx, sqlx::query(SQL).bind(id).bind(decision_at).bind(now))? == 1)
}

/// Pending departures whose deadline has come (`decision_at <= now`),
/// earliest first: the decision job's work list, read without locks (each
/// is decided under its lock, and only if still pending).
pub async fn due_for_decision(
    tx: &mut Tx,
    now: DateTime<Utc>,
    limit: i64,
) -> StoreResult<Vec<i64>> {
    const SQL: &str = "SELECT id FROM booking_slots WHERE guarantee = 'pending' AND decision_at <= $1 \
         AND NOT is_cancelled ORDER BY decision_at, id LIMIT $2";
    Ok(on!(tx, c => sqlx::query_scalar(SQL).bind(now).bind(limit).fetch_all(c).await)?)
}

/// Departures still waiting for their minimum that start after `now`,
/// by deadline: what the console lists as at risk (not one that looks
/// cancelled: closed by a blackout or its schedule with nobody on it).
pub async fn at_risk(tx: &mut Tx, now: DateTime<Utc>, limit: i64) -> StoreResult<Vec<SlotRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        slot_cols!(),
        " FROM booking_slots WHERE guarantee = 'pending' AND NOT is_cancelled AND starts_at > $1 \
         AND NOT ((blackout_id IS NOT NULL OR withdrawn) AND current_bookings = 0 AND held_spots = 0) \
         ORDER BY decision_at, starts_at, id LIMIT $2"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(now).bind(limit).fetch_all(c).await)?)
}

/// A schedule's future departures that never had a deadline (made before
/// 0015), to be given one.
pub async fn without_deadline(
    tx: &mut Tx,
    schedule_id: i64,
    after: DateTime<Utc>,
) -> StoreResult<Vec<SlotRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        slot_cols!(),
        " FROM booking_slots WHERE schedule_id = $1 AND decision_at IS NULL AND starts_at > $2 \
         AND NOT is_cancelled AND guarantee = 'none' ORDER BY id"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(schedule_id).bind(after).fetch_all(c).await)?)
}

// ---- locking reads (see the lock order in service/src/ledger/mod.rs) ----

/// Reads a slot and locks its row (PostgreSQL; SQLite has one writer).
pub async fn lock_slot(tx: &mut Tx, id: i64) -> StoreResult<Option<SlotRow>> {
    Ok(locked!(
        tx,
        concat!("SELECT ", slot_cols!(), " FROM booking_slots WHERE id = $1"),
        "FOR UPDATE",
        |c, SQL| sqlx::query_as(SQL).bind(id).fetch_optional(c).await
    )?)
}

/// Locks every departure of a tour on a date, in ascending id order.
pub async fn lock_slots_of_date(
    tx: &mut Tx,
    tour_id: i64,
    date: NaiveDate,
) -> StoreResult<Vec<SlotRow>> {
    Ok(locked!(
        tx,
        concat!(
            "SELECT ",
            slot_cols!(),
            " FROM booking_slots WHERE tour_id = $1 AND slot_date = $2 ORDER BY id"
        ),
        "FOR UPDATE",
        |c, SQL| sqlx::query_as(SQL)
            .bind(tour_id)
            .bind(date)
            .fetch_all(c)
            .await
    )?)
}

/// Locks the departures of `tour_id` (every tour when None) dated
/// `from..=to`, in ascending id order; returns their ids.
pub async fn lock_slots_between(
    tx: &mut Tx,
    tour_id: Option<i64>,
    from: NaiveDate,
    to: NaiveDate,
) -> StoreResult<Vec<i64>> {
    Ok(locked!(
        tx,
        "SELECT id FROM booking_slots WHERE ($1 IS NULL OR tour_id = $1) AND slot_date >= $2 AND slot_date <= $3 \
         ORDER BY id",
        "FOR UPDATE",
        |c, SQL| sqlx::query_scalar(SQL)
            .bind(tour_id)
            .bind(from)
            .bind(to)
            .fetch_all(c)
            .await
    )?)
}

/// Locks a schedule's departures starting after `after` (ascending id) and
/// returns them as locked, in date order.
pub async fn lock_future_slots_of_schedule(
    tx: &mut Tx,
    schedule_id: i64,
    after: DateTime<Utc>,
) -> StoreResult<Vec<SlotRow>> {
    let mut rows: Vec<SlotRow> = locked!(
        tx,
        concat!(
            "SELECT ",
            slot_cols!(),
            " FROM booking_slots WHERE schedule_id = $1 AND starts_at > $2 ORDER BY id"
        ),
        "FOR UPDATE",
        |c, SQL| sqlx::query_as(SQL)
            .bind(schedule_id)
            .bind(after)
            .fetch_all(c)
            .await
    )?;
    rows.sort_by_key(|s| (s.slot_date, s.id));
    Ok(rows)
}

/// Slots by id, in id order (those that exist), with one statement: for
/// SQLite, whose one writer already excludes the others, this is what
/// locking them is ([`lock_slot`] one by one on PostgreSQL).
pub async fn slots_by_ids(tx: &mut Tx, ids: &[i64]) -> StoreResult<Vec<SlotRow>> {
    crate::rows_for_ids!(
        tx,
        concat!("SELECT ", slot_cols!(), " FROM booking_slots WHERE id IN ("),
        ids,
        ") ORDER BY id"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_day_totals_read_back() {
        let date = |d: &str| d.parse::<NaiveDate>().ok();
        let days = parse_day_totals("2027-03-02 4 3 17 60 7500,2027-03-01 1 0 0 0 -").ok();
        assert_eq!(
            days,
            Some(vec![
                DayTotals {
                    slot_date: date("2027-03-02").unwrap_or_default(),
                    num_time_slots: 4,
                    num_bookable_slots: 3,
                    available_spots: 17,
                    capacity: 60,
                    min_price: Some(7500),
                },
                DayTotals {
                    slot_date: date("2027-03-01").unwrap_or_default(),
                    num_time_slots: 1,
                    num_bookable_slots: 0,
                    available_spots: 0,
                    capacity: 0,
                    min_price: None,
                },
            ])
        );
        assert_eq!(parse_day_totals("").ok(), Some(Vec::new()));
        for bad in [
            "2027-03-02 4 3 17 60",
            "2027-02-30 4 3 17 60 1",
            "2027-03-02 4 3 17 60 1 9",
            "2027-03-02 4 3 x 60 1",
            ",",
        ] {
            assert!(parse_day_totals(bad).is_err(), "{bad}");
        }
    }
}
