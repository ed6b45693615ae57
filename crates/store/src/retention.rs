//! Retention: deleting rows that have served their purpose, a small batch
//! per statement so the caller can commit between batches and never hold
//! the write lock (SQLite) or many row locks (PostgreSQL) for long.
//!
//! Each function deletes at most `limit` of the oldest dead rows (lowest
//! ids first) and returns how many it deleted; fewer than `limit` means
//! none is left. What "dead" means is decided here, next to the queries
//! that treat the same rows as live:
//! - outbox events: delivered before `before` (undelivered ones are never
//!   touched, whatever their age);
//! - webhook deliveries: delivered before `before` (with their attempts);
//! - idempotency keys: created before `before` (the replay window);
//! - manage tokens: revoked, or of a booking whose departure (or a waitlist
//!   entry whose date) is before `valid_from`, exactly the tokens
//!   [`crate::bookings::token_opens_booking`] and
//!   [`crate::bookings::token_opens_waitlist_entry`] refuse;
//! - login and session tokens (`auth_tokens`): revoked, or expired before
//!   `now`, exactly the tokens [`crate::users::user_by_token`] refuses.
//!
//! The audit log (`booking_modification_logs`) is kept forever and has no
//! function here.

use chrono::{DateTime, NaiveDate, Utc};

use crate::{StoreResult, Tx, exec};

/// Deletes up to `limit` outbox events delivered before `before`.
pub async fn delete_delivered_events(
    tx: &mut Tx,
    before: DateTime<Utc>,
    limit: i64,
) -> StoreResult<u64> {
    const SQL: &str = "DELETE FROM outbox_events WHERE id IN (\
         SELECT id FROM outbox_events \
         WHERE delivered_at IS NOT NULL AND delivered_at < $1 ORDER BY id LIMIT $2)";
    exec!(tx, sqlx::query(SQL).bind(before).bind(limit))
}

/// Deletes up to `limit` email messages that were sent, or held for preview
/// (email off), before `before`. Queued and dead-lettered ones stay: one
/// still has to go, the other waits for an admin.
pub async fn delete_old_messages(
    tx: &mut Tx,
    before: DateTime<Utc>,
    limit: i64,
) -> StoreResult<u64> {
    const SQL: &str = "DELETE FROM email_messages WHERE id IN (\
         SELECT id FROM email_messages \
         WHERE (status = 'sent' AND sent_at < $1) OR (status = 'held' AND created_at < $1) \
         ORDER BY id LIMIT $2)";
    exec!(tx, sqlx::query(SQL).bind(before).bind(limit))
}

/// Deletes up to `limit` webhook deliveries delivered before `before`,
/// with their attempts. Pending and dead-lettered ones stay, as email does.
pub async fn delete_delivered_webhooks(
    tx: &mut Tx,
    before: DateTime<Utc>,
    limit: i64,
) -> StoreResult<u64> {
    const PICK: &str = "SELECT id FROM webhook_deliveries \
         WHERE status = 'delivered' AND delivered_at < $1 ORDER BY id LIMIT $2";
    let ids: Vec<i64> = crate::on!(tx, c => sqlx::query_scalar(PICK)
        .bind(before)
        .bind(limit)
        .fetch_all(c)
        .await)?;
    for id in &ids {
        exec!(
            tx,
            sqlx::query("DELETE FROM webhook_attempts WHERE delivery_id = $1").bind(id)
        )?;
        exec!(
            tx,
            sqlx::query("DELETE FROM webhook_deliveries WHERE id = $1").bind(id)
        )?;
    }
    Ok(ids.len() as u64)
}

/// Deletes up to `limit` idempotency keys created before `before`.
pub async fn delete_idempotency_keys(
    tx: &mut Tx,
    before: DateTime<Utc>,
    limit: i64,
) -> StoreResult<u64> {
    const SQL: &str = "DELETE FROM idempotency_keys WHERE id IN (\
         SELECT id FROM idempotency_keys WHERE created_at < $1 ORDER BY id LIMIT $2)";
    exec!(tx, sqlx::query(SQL).bind(before).bind(limit))
}

/// Deletes up to `limit` manage tokens that open nothing any more: revoked,
/// or of a departure (waitlisted date) before `valid_from`.
pub async fn delete_dead_manage_tokens(
    tx: &mut Tx,
    valid_from: NaiveDate,
    limit: i64,
) -> StoreResult<u64> {
    const SQL: &str = "DELETE FROM manage_tokens WHERE id IN (\
         SELECT t.id FROM manage_tokens t \
         LEFT JOIN bookings b ON b.id = t.booking_id \
         LEFT JOIN booking_slots s ON s.id = b.booking_slot_id \
         LEFT JOIN waitlist_entries w ON w.id = t.waitlist_entry_id \
         WHERE t.revoked_at IS NOT NULL OR s.slot_date < $1 OR w.requested_date < $1 \
         ORDER BY t.id LIMIT $2)";
    exec!(tx, sqlx::query(SQL).bind(valid_from).bind(limit))
}

/// Deletes up to `limit` login and session tokens that are revoked or
/// expired at `now`.
pub async fn delete_dead_auth_tokens(
    tx: &mut Tx,
    now: DateTime<Utc>,
    limit: i64,
) -> StoreResult<u64> {
    const SQL: &str = "DELETE FROM auth_tokens WHERE id IN (\
         SELECT id FROM auth_tokens WHERE revoked_at IS NOT NULL OR expires_at <= $1 \
         ORDER BY id LIMIT $2)";
    exec!(tx, sqlx::query(SQL).bind(now).bind(limit))
}
