//! Booking slots: bookable departures with capacity. Capacity counters move
//! only through the conditional statements in `capacity.rs`; this file
//! creates, reads and administers slots.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use crate::{StoreResult, Tx, exec, on};

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
}

impl SlotRow {
    /// Open for booking: not closed by the operator and not cancelled.
    pub fn is_open(&self) -> bool {
        self.is_available && !self.is_cancelled
    }
}

#[macro_export]
#[doc(hidden)]
macro_rules! slot_cols {
    () => {
        "id, tour_id, schedule_id, slot_date, start_time, end_time, starts_at, max_capacity, current_bookings, \
         held_spots, max_capacity - current_bookings - held_spots AS available_spots, price_per_person, \
         is_available, is_cancelled, cancellation_reason"
    };
}

pub struct NewSlot {
    pub tour_id: i64,
    pub schedule_id: Option<i64>,
    pub slot_date: NaiveDate,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
    pub starts_at: DateTime<Utc>,
    pub max_capacity: i64,
    pub price_per_person: i64,
}

/// Inserts a slot unless its schedule already has one at that date and
/// time; `None` when it existed (generation is idempotent).
pub async fn insert_slot_if_absent(
    tx: &mut Tx,
    s: &NewSlot,
    now: DateTime<Utc>,
) -> StoreResult<Option<SlotRow>> {
    const SQL: &str = concat!(
        "INSERT INTO booking_slots (tour_id, schedule_id, slot_date, start_time, end_time, starts_at, max_capacity, \
         price_per_person, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
         ON CONFLICT (schedule_id, slot_date, start_time) DO NOTHING RETURNING ",
        slot_cols!()
    );
    Ok(on!(tx, c => sqlx::query_as(SQL)
        .bind(s.tour_id).bind(s.schedule_id).bind(s.slot_date).bind(s.start_time).bind(s.end_time)
        .bind(s.starts_at).bind(s.max_capacity).bind(s.price_per_person).bind(now)
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

/// Cancels the open slots a blackout covers that hold no bookings and no
/// waitlist holds; returns how many. `tour_id` None covers every tour.
pub async fn cancel_free_slots_for_blackout(
    tx: &mut Tx,
    blackout_id: i64,
    tour_id: Option<i64>,
    from: NaiveDate,
    to: NaiveDate,
    reason: &str,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    const SQL: &str = "UPDATE booking_slots SET is_cancelled = TRUE, cancellation_reason = $5, \
         cancelled_by_blackout_id = $1, updated_at = $6 \
         WHERE ($2 IS NULL OR tour_id = $2) AND slot_date >= $3 AND slot_date <= $4 \
         AND NOT is_cancelled AND current_bookings = 0 AND held_spots = 0";
    exec!(
        tx,
        sqlx::query(SQL)
            .bind(blackout_id)
            .bind(tour_id)
            .bind(from)
            .bind(to)
            .bind(reason)
            .bind(now)
    )
}

/// Slots a blackout covers that still hold bookings or holds (not cancelled).
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

/// Reopens the slots a blackout cancelled, unless another active blackout
/// still covers them; returns how many.
pub async fn reopen_slots_of_blackout(
    tx: &mut Tx,
    blackout_id: i64,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    const SQL: &str = "UPDATE booking_slots SET is_cancelled = FALSE, cancellation_reason = NULL, \
         cancelled_by_blackout_id = NULL, updated_at = $2 \
         WHERE cancelled_by_blackout_id = $1 AND NOT EXISTS ( \
             SELECT 1 FROM blackout_dates b WHERE b.is_active AND b.id <> $1 \
             AND (b.tour_id IS NULL OR b.tour_id = booking_slots.tour_id) \
             AND booking_slots.slot_date >= b.start_date AND booking_slots.slot_date <= b.end_date)";
    exec!(tx, sqlx::query(SQL).bind(blackout_id).bind(now))
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
         updated_at = $5 WHERE id = $1";
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
    const SQL: &str = "UPDATE booking_slots SET is_cancelled = TRUE, cancellation_reason = $2, updated_at = $3 \
         WHERE id = $1 AND NOT is_cancelled";
    Ok(exec!(tx, sqlx::query(SQL).bind(id).bind(reason).bind(now))? > 0)
}

/// Counts the open, unbooked slots in a range (what a blackout would cancel).
pub async fn count_free_slots_between(
    tx: &mut Tx,
    tour_id: Option<i64>,
    from: NaiveDate,
    to: NaiveDate,
) -> StoreResult<u64> {
    const SQL: &str = "SELECT COUNT(*) FROM booking_slots WHERE ($1 IS NULL OR tour_id = $1) \
         AND slot_date >= $2 AND slot_date <= $3 AND NOT is_cancelled AND current_bookings = 0 AND held_spots = 0";
    let n: i64 =
        on!(tx, c => sqlx::query_scalar(SQL).bind(tour_id).bind(from).bind(to).fetch_one(c).await)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Cancels a schedule's slots from `from` on that hold no bookings or holds.
pub async fn cancel_free_future_slots_of_schedule(
    tx: &mut Tx,
    schedule_id: i64,
    from: NaiveDate,
    reason: &str,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    const SQL: &str = "UPDATE booking_slots SET is_cancelled = TRUE, cancellation_reason = $3, updated_at = $4 \
         WHERE schedule_id = $1 AND slot_date >= $2 AND NOT is_cancelled AND current_bookings = 0 AND held_spots = 0";
    exec!(
        tx,
        sqlx::query(SQL)
            .bind(schedule_id)
            .bind(from)
            .bind(reason)
            .bind(now)
    )
}
