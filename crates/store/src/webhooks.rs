//! Webhook endpoints, their deliveries and each delivery's attempts.
//!
//! A delivery is claimed with a lease (`status = 'sending'` until
//! `next_attempt_at`) so several instances never send it at the same time;
//! a sender that dies mid-send leaves it to come due again when the lease
//! ends, and the resend carries the same event id for the receiver to drop
//! the duplicate. An outcome is recorded only by the sender holding the
//! current lease (`attempts` names it).

use chrono::{DateTime, Utc};

use crate::{StoreResult, Tx, built, exec, locked, on};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndpointRow {
    pub id: i64,
    pub url: String,
    pub description: String,
    /// Space-separated event types, or `*`.
    pub events: String,
    pub secret: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const ENDPOINT_COLUMNS: &str =
    "id, url, description, events, secret, is_active, created_at, updated_at";

/// An endpoint's fields as an admin sets them.
pub struct EndpointFields<'a> {
    pub url: &'a str,
    pub description: &'a str,
    pub events: &'a str,
    pub secret: &'a str,
    pub is_active: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub endpoint_id: i64,
    pub event_id: i64,
    pub event_type: String,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

const DELIVERY_COLUMNS: &str = "id, endpoint_id, event_id, event_type, body, status, attempts, \
     next_attempt_at, last_error, created_at, delivered_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub id: i64,
    pub delivery_id: i64,
    pub attempt: i64,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

/// What one attempt found.
pub struct NewAttempt<'a> {
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<&'a str>,
    pub response_excerpt: Option<&'a str>,
}

/// What becomes of a delivery after an attempt.
pub enum Next {
    Delivered,
    RetryAt(DateTime<Utc>),
    Dead,
}

pub async fn insert_endpoint(
    tx: &mut Tx,
    f: &EndpointFields<'_>,
    now: DateTime<Utc>,
) -> StoreResult<EndpointRow> {
    let sql = format!(
        "INSERT INTO webhook_endpoints (url, description, events, secret, is_active, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {ENDPOINT_COLUMNS}"
    );
    Ok(
        on!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(f.url)
        .bind(f.description)
        .bind(f.events)
        .bind(f.secret)
        .bind(f.is_active)
        .bind(now)
        .fetch_one(c)
        .await)?,
    )
}

pub async fn update_endpoint(
    tx: &mut Tx,
    id: i64,
    f: &EndpointFields<'_>,
    now: DateTime<Utc>,
) -> StoreResult<Option<EndpointRow>> {
    let sql = format!(
        "UPDATE webhook_endpoints SET url = $2, description = $3, events = $4, secret = $5, \
         is_active = $6, updated_at = $7 WHERE id = $1 RETURNING {ENDPOINT_COLUMNS}"
    );
    Ok(
        on!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .bind(f.url)
        .bind(f.description)
        .bind(f.events)
        .bind(f.secret)
        .bind(f.is_active)
        .bind(now)
        .fetch_optional(c)
        .await)?,
    )
}

/// Deletes an endpoint with its deliveries and their attempts.
pub async fn delete_endpoint(tx: &mut Tx, id: i64) -> StoreResult<bool> {
    exec!(
        tx,
        sqlx::query(
            "DELETE FROM webhook_attempts WHERE delivery_id IN \
             (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1)"
        )
        .bind(id)
    )?;
    exec!(
        tx,
        sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1").bind(id)
    )?;
    let n = exec!(
        tx,
        sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1").bind(id)
    )?;
    Ok(n == 1)
}

pub async fn endpoint_by_id(tx: &mut Tx, id: i64) -> StoreResult<Option<EndpointRow>> {
    let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1");
    Ok(
        on!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(c).await)?,
    )
}

pub async fn list_endpoints(tx: &mut Tx) -> StoreResult<Vec<EndpointRow>> {
    let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY id");
    Ok(on!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).fetch_all(c).await)?)
}

/// A webhook delivery to queue: one event for one endpoint.
pub struct NewDelivery<'a> {
    pub endpoint_id: i64,
    pub event_id: i64,
    pub event_type: &'a str,
    pub body: &'a str,
}

/// Rows bound per multi-row statement.
const ROWS_PER_STATEMENT: usize = 1000;

/// Queues deliveries, one statement per 1,000, skipping any an endpoint
/// already has for its event.
pub async fn insert_deliveries(
    tx: &mut Tx,
    rows: &[NewDelivery<'_>],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        built!(
            tx,
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, body, status, \
             attempts, next_attempt_at, created_at) ",
            |qb, c| {
                qb.push_values(chunk, |mut q, d| {
                    q.push_bind(d.endpoint_id)
                        .push_bind(d.event_id)
                        .push_bind(d.event_type)
                        .push_bind(d.body)
                        .push("'pending'")
                        .push("0")
                        .push_bind(now)
                        .push_bind(now);
                });
                qb.push(" ON CONFLICT (endpoint_id, event_id) DO NOTHING");
                qb.build().execute(c).await?;
            }
        )
    }
    Ok(())
}

/// Claims up to `limit` due deliveries of active endpoints (pending ones
/// whose time has come, and sending ones whose lease ended), counting the
/// attempt and leasing each until `lease_until`. PostgreSQL skips rows
/// another instance is claiming.
pub async fn claim_due(
    tx: &mut Tx,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> StoreResult<Vec<DeliveryRow>> {
    let ids: Vec<i64> = locked!(
        tx,
        "SELECT id FROM webhook_deliveries WHERE status IN ('pending', 'sending') \
         AND next_attempt_at <= $1 \
         AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE is_active) \
         ORDER BY next_attempt_at, id LIMIT $2",
        "FOR UPDATE SKIP LOCKED",
        |c, SQL| sqlx::query_scalar(SQL)
            .bind(now)
            .bind(limit)
            .fetch_all(c)
            .await
    )?;
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        let sql = format!(
            "UPDATE webhook_deliveries SET status = 'sending', attempts = attempts + 1, \
             next_attempt_at = $2 WHERE id = $1 RETURNING {DELIVERY_COLUMNS}"
        );
        let row: DeliveryRow = on!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id)
            .bind(lease_until)
            .fetch_one(c)
            .await)?;
        rows.push(row);
    }
    Ok(rows)
}

/// Logs an attempt and, if the sender still holds the delivery's lease
/// (`attempt` is its current count), moves it on. Returns whether it did.
pub async fn record_attempt(
    tx: &mut Tx,
    delivery_id: i64,
    attempt: i64,
    a: &NewAttempt<'_>,
    next: Next,
) -> StoreResult<bool> {
    exec!(
        tx,
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code, \
             latency_ms, error, response_excerpt) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(delivery_id)
        .bind(attempt)
        .bind(a.attempted_at)
        .bind(a.status_code)
        .bind(a.latency_ms)
        .bind(a.error)
        .bind(a.response_excerpt)
    )?;
    let n = match next {
        Next::Delivered => exec!(
            tx,
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = $3, \
                 last_error = NULL WHERE id = $1 AND attempts = $2 AND status = 'sending'"
            )
            .bind(delivery_id)
            .bind(attempt)
            .bind(a.attempted_at)
        )?,
        Next::RetryAt(at) => exec!(
            tx,
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3, \
                 last_error = $4 WHERE id = $1 AND attempts = $2 AND status = 'sending'"
            )
            .bind(delivery_id)
            .bind(attempt)
            .bind(at)
            .bind(a.error)
        )?,
        Next::Dead => exec!(
            tx,
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'dead', last_error = $3 \
                 WHERE id = $1 AND attempts = $2 AND status = 'sending'"
            )
            .bind(delivery_id)
            .bind(attempt)
            .bind(a.error)
        )?,
    };
    Ok(n == 1)
}

/// Sends a delivery again now with fresh attempts, unless a sender holds
/// it at this moment.
pub async fn replay(tx: &mut Tx, id: i64, now: DateTime<Utc>) -> StoreResult<bool> {
    let n = exec!(
        tx,
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $2 \
             WHERE id = $1 AND NOT (status = 'sending' AND next_attempt_at > $2)"
        )
        .bind(id)
        .bind(now)
    )?;
    Ok(n == 1)
}

pub async fn delivery_by_id(tx: &mut Tx, id: i64) -> StoreResult<Option<DeliveryRow>> {
    let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1");
    Ok(
        on!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(c).await)?,
    )
}

/// Deliveries, newest first, optionally of one endpoint and/or status.
pub async fn list_deliveries(
    tx: &mut Tx,
    endpoint_id: Option<i64>,
    status: Option<&str>,
    limit: i64,
) -> StoreResult<Vec<DeliveryRow>> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
         WHERE ($1 IS NULL OR endpoint_id = $1) AND ($2 IS NULL OR status = $2) \
         ORDER BY id DESC LIMIT $3"
    );
    Ok(
        on!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(endpoint_id)
        .bind(status)
        .bind(limit)
        .fetch_all(c)
        .await)?,
    )
}

/// A delivery's attempts, oldest first.
pub async fn attempts_of(tx: &mut Tx, delivery_id: i64) -> StoreResult<Vec<AttemptRow>> {
    Ok(on!(tx, c => sqlx::query_as(
        "SELECT id, delivery_id, attempt, attempted_at, status_code, latency_ms, error, \
         response_excerpt FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id",
    )
    .bind(delivery_id)
    .fetch_all(c)
    .await)?)
}
