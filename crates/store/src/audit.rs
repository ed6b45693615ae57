//! Audit rows (`booking_modification_logs`) and outbox events, written in the
//! same transaction as the change they record.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use tourdesk_domain::AuditKind;
use tourdesk_domain::EventKind;

use crate::{StoreResult, Tx, built, exec, locked, on};

pub struct NewLog<'a> {
    pub booking_id: i64,
    pub tour_id: i64,
    pub modified_by: Option<i64>,
    /// `user:<id>`, `guest` or `system`.
    pub actor: &'a str,
    pub modification_type: AuditKind,
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    pub reason: Option<&'a str>,
    pub ip_address: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

pub async fn insert_log(tx: &mut Tx, l: NewLog<'_>, now: DateTime<Utc>) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO booking_modification_logs (booking_id, tour_id, modified_by, actor, modification_type, \
         old_value, new_value, reason, ip_address, user_agent, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    exec!(
        tx,
        sqlx::query(SQL)
            .bind(l.booking_id)
            .bind(l.tour_id)
            .bind(l.modified_by)
            .bind(l.actor)
            .bind(l.modification_type.as_str())
            .bind(l.old_value.map(Json))
            .bind(l.new_value.map(Json))
            .bind(l.reason)
            .bind(l.ip_address)
            .bind(l.user_agent)
            .bind(now)
    )?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogRow {
    pub id: i64,
    pub booking_id: i64,
    pub modified_by: Option<i64>,
    pub actor: String,
    pub modification_type: String,
    pub old_value: Option<Json<Value>>,
    pub new_value: Option<Json<Value>>,
    pub reason: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The name of the account that made the change (`modified_by`), when
    /// there is one.
    pub actor_name: Option<String>,
}

pub async fn logs_of_booking(tx: &mut Tx, booking_id: i64) -> StoreResult<Vec<LogRow>> {
    const SQL: &str = "SELECT l.id, l.booking_id, l.modified_by, l.actor, l.modification_type, l.old_value, \
         l.new_value, l.reason, l.ip_address, l.user_agent, l.created_at, u.name AS actor_name \
         FROM booking_modification_logs l LEFT JOIN users u ON u.id = l.modified_by \
         WHERE l.booking_id = $1 ORDER BY l.id";
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(booking_id).fetch_all(c).await)?)
}

pub async fn insert_event(
    tx: &mut Tx,
    tour_id: i64,
    kind: EventKind,
    payload: Value,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO outbox_events (tour_id, event_type, payload, created_at) VALUES ($1, $2, $3, $4)";
    exec!(
        tx,
        sqlx::query(SQL)
            .bind(tour_id)
            .bind(kind.as_str())
            .bind(Json(payload))
            .bind(now)
    )?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub tour_id: i64,
    pub event_type: String,
    pub payload: Json<Value>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl EventRow {
    /// The event's kind; `None` for a name this version does not know
    /// (written by another version, or by hand): such an event is
    /// delivered as nothing rather than stopping the outbox behind it.
    pub fn kind(&self) -> Option<EventKind> {
        self.event_type.parse().ok()
    }
}

/// Events, newest first, optionally of one type and since a moment.
pub async fn list_events(
    tx: &mut Tx,
    event_type: Option<&str>,
    since: Option<DateTime<Utc>>,
    limit: i64,
) -> StoreResult<Vec<EventRow>> {
    const SQL: &str = "SELECT id, tour_id, event_type, payload, created_at, delivered_at FROM outbox_events \
         WHERE ($1 IS NULL OR event_type = $1) AND ($2 IS NULL OR created_at >= $2) ORDER BY id DESC LIMIT $3";
    Ok(
        on!(tx, c => sqlx::query_as(SQL).bind(event_type).bind(since).bind(limit).fetch_all(c).await)?,
    )
}

/// Takes up to `limit` undelivered events for delivery. On PostgreSQL the
/// rows are locked with SKIP LOCKED so several instances never take the same
/// event; SQLite has one writer, so the transaction itself excludes others.
pub async fn claim_undelivered(tx: &mut Tx, limit: i64) -> StoreResult<Vec<EventRow>> {
    Ok(locked!(
        tx,
        "SELECT id, tour_id, event_type, payload, created_at, delivered_at FROM outbox_events \
         WHERE delivered_at IS NULL ORDER BY id LIMIT $1",
        "FOR UPDATE SKIP LOCKED",
        |c, SQL| sqlx::query_as(SQL).bind(limit).fetch_all(c).await
    )?)
}

/// The oldest `limit` undelivered events, without a lock (what
/// [`claim_undelivered`] will most likely take next).
pub async fn undelivered(tx: &mut Tx, limit: i64) -> StoreResult<Vec<EventRow>> {
    const SQL: &str = "SELECT id, tour_id, event_type, payload, created_at, delivered_at \
         FROM outbox_events WHERE delivered_at IS NULL ORDER BY id LIMIT $1";
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(limit).fetch_all(c).await)?)
}

/// Marks events delivered, one statement per 1,000.
pub async fn mark_delivered(tx: &mut Tx, ids: &[i64], now: DateTime<Utc>) -> StoreResult<()> {
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        built!(tx, "UPDATE outbox_events SET delivered_at = ", |qb, c| {
            qb.push_bind(now).push(" WHERE id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            qb.push(")");
            qb.build().execute(c).await?;
        })
    }
    Ok(())
}

/// Rows bound per multi-row statement (under both engines' parameter limits).
const ROWS_PER_STATEMENT: usize = 1000;

/// Audit rows for many changes, one statement per 1,000, in order.
pub async fn insert_logs(tx: &mut Tx, rows: &[NewLog<'_>], now: DateTime<Utc>) -> StoreResult<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        built!(
            tx,
            "INSERT INTO booking_modification_logs (booking_id, tour_id, modified_by, actor, \
                     modification_type, old_value, new_value, reason, ip_address, user_agent, created_at) ",
            |qb, c| {
                qb.push_values(chunk, |mut q, l| {
                    q.push_bind(l.booking_id)
                        .push_bind(l.tour_id)
                        .push_bind(l.modified_by)
                        .push_bind(l.actor)
                        .push_bind(l.modification_type.as_str())
                        .push_bind(l.old_value.as_ref().map(Json))
                        .push_bind(l.new_value.as_ref().map(Json))
                        .push_bind(l.reason)
                        .push_bind(l.ip_address)
                        .push_bind(l.user_agent)
                        .push_bind(now);
                });
                qb.build().execute(c).await?;
            }
        )
    }
    Ok(())
}

/// An outbox event to store.
pub struct NewEvent {
    pub tour_id: i64,
    pub kind: EventKind,
    pub payload: Value,
}

/// Outbox events, one statement per 1,000, in order (delivery follows
/// their ids).
pub async fn insert_events(tx: &mut Tx, rows: &[NewEvent], now: DateTime<Utc>) -> StoreResult<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        built!(
            tx,
            "INSERT INTO outbox_events (tour_id, event_type, payload, created_at) ",
            |qb, c| {
                qb.push_values(chunk, |mut q, e| {
                    q.push_bind(e.tour_id)
                        .push_bind(e.kind.as_str())
                        .push_bind(Json(&e.payload))
                        .push_bind(now);
                });
                qb.build().execute(c).await?;
            }
        )
    }
    Ok(())
}
