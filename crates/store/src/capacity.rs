//! The only statements that move a slot's counters (design invariant 2).
//! Each is one conditional UPDATE; callers run it in the same transaction as
//! the booking row, its audit row and its outbox event, and never compute a
//! new count in application code. Like every change to a slot, each adds
//! one to its `revision` (the SEQUENCE of its calendar event).

use chrono::{DateTime, Utc};

use crate::slots::SlotRow;
use crate::{StoreResult, Tx, exec, holding_statuses, on, slot_cols};

/// The condition under which a departure takes new people: open (see
/// `SlotRow::is_open`). Written once for `reserve` and `hold`.
macro_rules! open_departure {
    () => {
        "NOT is_cancelled AND is_available AND blackout_id IS NULL AND NOT withdrawn"
    };
}

/// Adds `n` booked people if the slot is open and has room, and returns the
/// updated, locked row (its price and times are what the booking is decided
/// on); `None` when it is closed, full or missing.
pub async fn reserve(
    tx: &mut Tx,
    slot_id: i64,
    n: i64,
    now: DateTime<Utc>,
) -> StoreResult<Option<SlotRow>> {
    const SQL: &str = concat!(
        "UPDATE booking_slots SET current_bookings = current_bookings + $2, updated_at = $3, \
         revision = revision + 1 \
         WHERE id = $1 AND current_bookings + held_spots + $2 <= max_capacity AND ",
        open_departure!(),
        " RETURNING ",
        slot_cols!()
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(slot_id).bind(n).bind(now).fetch_optional(c).await)?)
}

/// Removes `n` booked people (a cancellation or a smaller party).
pub async fn release(tx: &mut Tx, slot_id: i64, n: i64, now: DateTime<Utc>) -> StoreResult<()> {
    const SQL: &str = "UPDATE booking_slots SET current_bookings = current_bookings - $2, updated_at = $3, \
         revision = revision + 1 WHERE id = $1";
    exec!(tx, sqlx::query(SQL).bind(slot_id).bind(n).bind(now))?;
    Ok(())
}

/// Holds `n` spots for a notified waitlist entry if the slot is open and
/// has room.
pub async fn hold(tx: &mut Tx, slot_id: i64, n: i64, now: DateTime<Utc>) -> StoreResult<bool> {
    const SQL: &str = concat!(
        "UPDATE booking_slots SET held_spots = held_spots + $2, updated_at = $3, revision = revision + 1 \
         WHERE id = $1 AND current_bookings + held_spots + $2 <= max_capacity AND ",
        open_departure!()
    );
    Ok(exec!(tx, sqlx::query(SQL).bind(slot_id).bind(n).bind(now))? == 1)
}

/// Releases `n` held spots (claim, expiry or withdrawal).
pub async fn release_hold(
    tx: &mut Tx,
    slot_id: i64,
    n: i64,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    const SQL: &str = "UPDATE booking_slots SET held_spots = held_spots - $2, updated_at = $3, revision = revision + 1 \
         WHERE id = $1";
    exec!(tx, sqlx::query(SQL).bind(slot_id).bind(n).bind(now))?;
    Ok(())
}

/// Turns `held` held spots into `booked` booked ones (a waitlist claim;
/// `booked <= held`, the rest is released).
pub async fn convert_hold(
    tx: &mut Tx,
    slot_id: i64,
    held: i64,
    booked: i64,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    const SQL: &str = "UPDATE booking_slots SET held_spots = held_spots - $2, \
         current_bookings = current_bookings + $3, updated_at = $4, revision = revision + 1 \
         WHERE id = $1";
    exec!(
        tx,
        sqlx::query(SQL)
            .bind(slot_id)
            .bind(held)
            .bind(booked)
            .bind(now)
    )?;
    Ok(())
}

/// A slot whose stored counters differ from what its rows say.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Drift {
    pub slot_id: i64,
    pub tour_id: i64,
    pub max_capacity: i64,
    pub current_bookings: i64,
    pub expected_bookings: i64,
    pub held_spots: i64,
    pub expected_held: i64,
}

/// Recomputes every slot's counters from bookings and waitlist holds
/// (design invariant 1) and returns the slots that disagree or overflow.
pub async fn drift(tx: &mut Tx) -> StoreResult<Vec<Drift>> {
    const SQL: &str = concat!(
        "SELECT s.id AS slot_id, s.tour_id, s.max_capacity, s.current_bookings, \
         CAST(COALESCE(b.people, 0) AS BIGINT) AS expected_bookings, s.held_spots, \
         CAST(COALESCE(w.people, 0) AS BIGINT) AS expected_held \
         FROM booking_slots s \
         LEFT JOIN (SELECT booking_slot_id, SUM(seats) AS people FROM bookings \
                    WHERE status IN ",
        holding_statuses!(),
        " GROUP BY booking_slot_id) b \
           ON b.booking_slot_id = s.id \
         LEFT JOIN (SELECT held_slot_id, SUM(num_people) AS people FROM waitlist_entries \
                    WHERE status = 'notified' GROUP BY held_slot_id) w \
           ON w.held_slot_id = s.id \
         WHERE s.current_bookings <> COALESCE(b.people, 0) OR s.held_spots <> COALESCE(w.people, 0) \
            OR s.current_bookings + s.held_spots > s.max_capacity OR s.current_bookings < 0 OR s.held_spots < 0 \
         ORDER BY s.id"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).fetch_all(c).await)?)
}
