//! What calendar files read: departures with their revision (the iCalendar
//! SEQUENCE of their event) and the length they were placed with, how often
//! a booking changed, and the tokens that open a tour's departures feed
//! (kept only as hashes).

use chrono::{DateTime, NaiveDate, Utc};

use crate::slots::SlotRow;
use crate::{StoreResult, Tx, on, slot_cols};

/// A departure as a calendar shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DepartureRow {
    #[sqlx(flatten)]
    pub slot: SlotRow,
    /// One more for every statement that changed the row.
    pub revision: i64,
    /// Its schedule's length in minutes, else its tour's: what its local
    /// end time was computed from (the end may be days later).
    pub duration_minutes: i64,
}

macro_rules! departure_select {
    () => {
        concat!(
            "SELECT ",
            slot_cols!(),
            ", revision, COALESCE((SELECT ts.duration_minutes FROM tour_schedules ts \
             WHERE ts.id = booking_slots.schedule_id), (SELECT t.duration_minutes FROM tours t \
             WHERE t.id = booking_slots.tour_id)) AS duration_minutes FROM booking_slots "
        )
    };
}

pub async fn departure(tx: &mut Tx, slot_id: i64) -> StoreResult<Option<DepartureRow>> {
    const SQL: &str = concat!(departure_select!(), "WHERE id = $1");
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(slot_id).fetch_optional(c).await)?)
}

/// Departures by id, in id order (those that exist).
pub async fn departures_by_ids(tx: &mut Tx, ids: &[i64]) -> StoreResult<Vec<DepartureRow>> {
    crate::rows_for_ids!(
        tx,
        concat!(departure_select!(), "WHERE id IN ("),
        ids,
        ") ORDER BY id"
    )
}

/// A tour's departures dated `from..=to` in time order, at most `limit`.
pub async fn departures_between(
    tx: &mut Tx,
    tour_id: i64,
    from: NaiveDate,
    to: NaiveDate,
    limit: i64,
) -> StoreResult<Vec<DepartureRow>> {
    const SQL: &str = concat!(
        departure_select!(),
        "WHERE tour_id = $1 AND slot_date >= $2 AND slot_date <= $3 \
         ORDER BY slot_date, start_time, id LIMIT $4"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL)
        .bind(tour_id).bind(from).bind(to).bind(limit)
        .fetch_all(c).await)?)
}

/// How often a booking was changed: its audit rows (one is written with
/// every change, its creation included) and when the last was written.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BookingChanges {
    pub changes: i64,
    pub last_change: Option<DateTime<Utc>>,
}

pub async fn booking_changes(tx: &mut Tx, booking_id: i64) -> StoreResult<BookingChanges> {
    const SQL: &str = "SELECT COUNT(*) AS changes, MAX(created_at) AS last_change \
         FROM booking_modification_logs WHERE booking_id = $1";
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(booking_id).fetch_one(c).await)?)
}

/// [`booking_changes`] of each of these bookings that has any, by booking
/// id (a booking with no audit row has none: 0 changes).
pub async fn booking_changes_of(
    tx: &mut Tx,
    booking_ids: &[i64],
) -> StoreResult<Vec<(i64, BookingChanges)>> {
    #[derive(sqlx::FromRow)]
    struct Of {
        booking_id: i64,
        #[sqlx(flatten)]
        changes: BookingChanges,
    }
    let rows: Vec<Of> = crate::rows_for_ids!(
        tx,
        "SELECT booking_id, COUNT(*) AS changes, MAX(created_at) AS last_change \
         FROM booking_modification_logs WHERE booking_id IN (",
        booking_ids,
        ") GROUP BY booking_id"
    )?;
    Ok(rows
        .into_iter()
        .map(|r| (r.booking_id, r.changes))
        .collect())
}

/// A token that opens a tour's departures feed, without its secret.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FeedTokenRow {
    pub id: i64,
    pub tour_id: i64,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

macro_rules! feed_token_cols {
    () => {
        "id, tour_id, label, created_at, revoked_at"
    };
}

pub async fn insert_feed_token(
    tx: &mut Tx,
    tour_id: i64,
    label: &str,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<FeedTokenRow> {
    const SQL: &str = concat!(
        "INSERT INTO calendar_feed_tokens (tour_id, label, token_hash, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING ",
        feed_token_cols!()
    );
    Ok(on!(tx, c => sqlx::query_as(SQL)
        .bind(tour_id).bind(label).bind(token_hash).bind(now)
        .fetch_one(c).await)?)
}

/// A tour's feed tokens, revoked ones included, oldest first.
pub async fn feed_tokens_of_tour(tx: &mut Tx, tour_id: i64) -> StoreResult<Vec<FeedTokenRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        feed_token_cols!(),
        " FROM calendar_feed_tokens WHERE tour_id = $1 ORDER BY id"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(tour_id).fetch_all(c).await)?)
}

/// Revokes a token of `tour_id` and returns it (a revoked one keeps its
/// first revocation time); `None` when the tour has no such token.
pub async fn revoke_feed_token(
    tx: &mut Tx,
    tour_id: i64,
    token_id: i64,
    now: DateTime<Utc>,
) -> StoreResult<Option<FeedTokenRow>> {
    const SQL: &str = concat!(
        "UPDATE calendar_feed_tokens SET revoked_at = COALESCE(revoked_at, $3) \
         WHERE id = $1 AND tour_id = $2 RETURNING ",
        feed_token_cols!()
    );
    Ok(on!(tx, c => sqlx::query_as(SQL)
        .bind(token_id).bind(tour_id).bind(now)
        .fetch_optional(c).await)?)
}

/// Whether `token_hash` is a live (not revoked) feed token of `tour_id`.
pub async fn feed_token_opens(tx: &mut Tx, tour_id: i64, token_hash: &str) -> StoreResult<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM calendar_feed_tokens \
         WHERE tour_id = $1 AND token_hash = $2 AND revoked_at IS NULL";
    let n: i64 =
        on!(tx, c => sqlx::query_scalar(SQL).bind(tour_id).bind(token_hash).fetch_one(c).await)?;
    Ok(n > 0)
}
