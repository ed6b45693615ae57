//! Email messages rendered from the outbox (`email_messages`): stored once
//! per event and kind, then claimed for sending with a lease so several
//! instances never send one message at the same time, and a crash between
//! sending and marking only repeats a send (the message keeps its id, and
//! so its `Message-ID`, for receivers to drop the duplicate).

use chrono::{DateTime, Utc};

use crate::{StoreResult, Tx, built, exec, locked, on};

pub struct NewMessage<'a> {
    pub event_id: i64,
    pub tour_id: i64,
    pub kind: &'a str,
    pub to_email: &'a str,
    pub subject: &'a str,
    pub text_body: &'a str,
    pub html_body: &'a str,
    pub ics: Option<&'a str>,
    /// The waitlist entry a claim link in it opens (its token is minted
    /// when the message is sent).
    pub waitlist_entry_id: Option<i64>,
    /// `queued` (to send) or `held` (no SMTP server: kept for preview).
    pub status: &'a str,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: i64,
    pub event_id: i64,
    pub tour_id: i64,
    pub kind: String,
    pub to_email: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub ics: Option<String>,
    pub waitlist_entry_id: Option<i64>,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, event_id, tour_id, kind, to_email, subject, text_body, html_body, ics, waitlist_entry_id, status, \
     attempts, next_attempt_at, last_error, created_at, sent_at";

/// Rows bound per multi-row statement (12 parameters each: under both
/// engines' limits).
const ROWS_PER_STATEMENT: usize = 500;

/// Stores messages, one statement per 500, skipping any kind an event
/// already produced (an event delivered twice renders twice, but is stored
/// once). Returns how many were stored.
pub async fn insert_messages(
    tx: &mut Tx,
    rows: &[NewMessage<'_>],
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let mut stored = 0;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        stored += built!(
            tx,
            "INSERT INTO email_messages (event_id, tour_id, kind, to_email, subject, text_body, \
             html_body, ics, waitlist_entry_id, status, attempts, next_attempt_at, created_at) ",
            |qb, c| {
                qb.push_values(chunk, |mut q, m| {
                    q.push_bind(m.event_id)
                        .push_bind(m.tour_id)
                        .push_bind(m.kind)
                        .push_bind(m.to_email)
                        .push_bind(m.subject)
                        .push_bind(m.text_body)
                        .push_bind(m.html_body)
                        .push_bind(m.ics)
                        .push_bind(m.waitlist_entry_id)
                        .push_bind(m.status)
                        .push("0")
                        .push_bind(now)
                        .push_bind(now);
                });
                qb.push(" ON CONFLICT (event_id, kind) DO NOTHING");
                qb.build().execute(c).await?.rows_affected()
            }
        );
    }
    Ok(stored)
}

/// Claims up to `limit` queued messages that are due, counting the attempt
/// and leasing each until `lease_until` (a crashed sender's messages come
/// due again then). PostgreSQL skips rows another instance is claiming.
pub async fn claim_due(
    tx: &mut Tx,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> StoreResult<Vec<MessageRow>> {
    let ids: Vec<i64> = locked!(
        tx,
        "SELECT id FROM email_messages WHERE status = 'queued' AND next_attempt_at <= $1 \
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
            "UPDATE email_messages SET attempts = attempts + 1, next_attempt_at = $2 \
             WHERE id = $1 RETURNING {COLUMNS}"
        );
        let row: MessageRow = on!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id)
            .bind(lease_until)
            .fetch_one(c)
            .await)?;
        rows.push(row);
    }
    Ok(rows)
}

pub async fn mark_sent(tx: &mut Tx, id: i64, now: DateTime<Utc>) -> StoreResult<()> {
    exec!(
        tx,
        sqlx::query(
            "UPDATE email_messages SET status = 'sent', sent_at = $2, last_error = NULL \
             WHERE id = $1 AND status = 'queued'"
        )
        .bind(id)
        .bind(now)
    )?;
    Ok(())
}

/// Records a failed attempt: due again at `retry_at`, or dead-lettered
/// when `retry_at` is `None`.
pub async fn mark_failed(
    tx: &mut Tx,
    id: i64,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> StoreResult<()> {
    match retry_at {
        Some(at) => exec!(
            tx,
            sqlx::query(
                "UPDATE email_messages SET last_error = $2, next_attempt_at = $3 \
                 WHERE id = $1 AND status = 'queued'"
            )
            .bind(id)
            .bind(error)
            .bind(at)
        )?,
        None => exec!(
            tx,
            sqlx::query(
                "UPDATE email_messages SET last_error = $2, status = 'dead' \
                 WHERE id = $1 AND status = 'queued'"
            )
            .bind(id)
            .bind(error)
        )?,
    };
    Ok(())
}

/// Puts a dead (or held) message back in the queue with fresh attempts.
pub async fn requeue(tx: &mut Tx, id: i64, now: DateTime<Utc>) -> StoreResult<bool> {
    let n = exec!(
        tx,
        sqlx::query(
            "UPDATE email_messages SET status = 'queued', attempts = 0, next_attempt_at = $2 \
             WHERE id = $1 AND status IN ('dead', 'held')"
        )
        .bind(id)
        .bind(now)
    )?;
    Ok(n == 1)
}

pub async fn message_by_id(tx: &mut Tx, id: i64) -> StoreResult<Option<MessageRow>> {
    let sql = format!("SELECT {COLUMNS} FROM email_messages WHERE id = $1");
    Ok(
        on!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(c).await)?,
    )
}

/// The newest messages first, optionally of one status and/or recipient.
pub async fn list_messages(
    tx: &mut Tx,
    status: Option<&str>,
    to_email: Option<&str>,
    limit: i64,
) -> StoreResult<Vec<MessageRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM email_messages \
         WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR LOWER(to_email) = LOWER($2)) \
         ORDER BY id DESC LIMIT $3"
    );
    Ok(
        on!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(status)
        .bind(to_email)
        .bind(limit)
        .fetch_all(c)
        .await)?,
    )
}

/// Marks up to `limit` bookings due a reminder (pending or confirmed,
/// departing between `now` and `until`, booked before `booked_before`, not
/// reminded yet) as reminded, returning their ids. On PostgreSQL rows being
/// marked by another instance are skipped.
pub async fn take_due_reminders(
    tx: &mut Tx,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: i64,
) -> StoreResult<Vec<i64>> {
    let ids: Vec<i64> = locked!(
        tx,
        "SELECT b.id FROM bookings b WHERE b.reminded_at IS NULL \
         AND b.status IN ('pending', 'confirmed') \
         AND b.booking_slot_id IN (SELECT s.id FROM booking_slots s \
             WHERE s.starts_at > $1 AND s.starts_at <= $2) \
         ORDER BY b.id LIMIT $3",
        "FOR UPDATE OF b SKIP LOCKED",
        |c, SQL| sqlx::query_scalar(SQL)
            .bind(now)
            .bind(until)
            .bind(limit)
            .fetch_all(c)
            .await
    )?;
    for id in &ids {
        exec!(
            tx,
            sqlx::query("UPDATE bookings SET reminded_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
        )?;
    }
    Ok(ids)
}
