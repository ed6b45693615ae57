//! The few aggregate reads the metrics job makes: backlog of the outbox and
//! of what it feeds, and utilization of upcoming departures. Read from the
//! database so every instance reports the same numbers.

use chrono::{DateTime, Utc};

use crate::{StoreResult, Tx, on};

/// Undelivered outbox events and when the oldest was written.
pub async fn outbox_backlog(tx: &mut Tx) -> StoreResult<(i64, Option<DateTime<Utc>>)> {
    Ok(on!(tx, c => sqlx::query_as(
        "SELECT COUNT(*), MIN(created_at) FROM outbox_events WHERE delivered_at IS NULL",
    )
    .fetch_one(c)
    .await)?)
}

/// Email messages per status.
pub async fn email_statuses(tx: &mut Tx) -> StoreResult<Vec<(String, i64)>> {
    Ok(on!(tx, c => sqlx::query_as(
        "SELECT status, COUNT(*) FROM email_messages WHERE status IN ('queued', 'dead') GROUP BY status",
    )
    .fetch_all(c)
    .await)?)
}

/// Webhook deliveries per status (the ones not delivered).
pub async fn webhook_statuses(tx: &mut Tx) -> StoreResult<Vec<(String, i64)>> {
    Ok(on!(tx, c => sqlx::query_as(
        "SELECT status, COUNT(*) FROM webhook_deliveries \
         WHERE status IN ('pending', 'sending', 'dead') GROUP BY status",
    )
    .fetch_all(c)
    .await)?)
}

/// Per active tour: places booked and held, and capacity, over its
/// departures starting after `now` that take bookings (not cancelled,
/// withdrawn, blacked out or closed).
pub async fn upcoming_utilization(
    tx: &mut Tx,
    now: DateTime<Utc>,
) -> StoreResult<Vec<(i64, i64, i64)>> {
    Ok(on!(tx, c => sqlx::query_as(
        "SELECT s.tour_id, CAST(SUM(s.current_bookings + s.held_spots) AS BIGINT), \
         CAST(SUM(s.max_capacity) AS BIGINT) \
         FROM booking_slots s JOIN tours t ON t.id = s.tour_id \
         WHERE t.is_active AND s.starts_at > $1 AND NOT s.is_cancelled AND NOT s.withdrawn \
         AND s.blackout_id IS NULL AND s.is_available \
         GROUP BY s.tour_id ORDER BY s.tour_id",
    )
    .bind(now)
    .fetch_all(c)
    .await)?)
}
