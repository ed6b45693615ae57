//! Waitlist entries: the queue for full departures, and the spots held for
//! a notified entry (`held_slot_id`, counted in `booking_slots.held_spots`).

use chrono::{DateTime, NaiveDate, Utc};
use tourdesk_domain::WaitlistStatus;

use crate::{StoreResult, Tx, exec, locked, on};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WaitlistRow {
    pub id: i64,
    pub user_id: Option<i64>,
    pub tour_id: i64,
    pub booking_slot_id: Option<i64>,
    pub requested_date: NaiveDate,
    pub num_people: i64,
    pub customer_name: String,
    pub customer_email: String,
    pub customer_phone: Option<String>,
    pub notes: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: WaitlistStatus,
    pub priority: i64,
    pub held_slot_id: Option<i64>,
    pub notified_at: Option<DateTime<Utc>>,
    pub notification_expires_at: Option<DateTime<Utc>>,
    pub converted_at: Option<DateTime<Utc>>,
    pub booking_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

macro_rules! entry_cols {
    () => {
        "id, user_id, tour_id, booking_slot_id, requested_date, num_people, customer_name, customer_email, \
         customer_phone, notes, status, priority, held_slot_id, notified_at, notification_expires_at, converted_at, \
         booking_id, created_at"
    };
}

pub struct NewEntry<'a> {
    pub user_id: Option<i64>,
    pub tour_id: i64,
    pub booking_slot_id: Option<i64>,
    pub requested_date: NaiveDate,
    pub num_people: i64,
    pub customer_name: &'a str,
    pub customer_email: &'a str,
    pub customer_phone: Option<&'a str>,
    pub notes: Option<&'a str>,
}

pub async fn insert_entry(
    tx: &mut Tx,
    e: &NewEntry<'_>,
    now: DateTime<Utc>,
) -> StoreResult<WaitlistRow> {
    const SQL: &str = concat!(
        "INSERT INTO waitlist_entries (user_id, tour_id, booking_slot_id, requested_date, num_people, customer_name, \
         customer_email, customer_phone, notes, status, priority, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active', 0, $10, $10) RETURNING ",
        entry_cols!()
    );
    Ok(on!(tx, c => sqlx::query_as(SQL)
        .bind(e.user_id).bind(e.tour_id).bind(e.booking_slot_id).bind(e.requested_date).bind(e.num_people)
        .bind(e.customer_name).bind(e.customer_email).bind(e.customer_phone).bind(e.notes).bind(now)
        .fetch_one(c).await)?)
}

pub async fn entry_by_id(tx: &mut Tx, id: i64) -> StoreResult<Option<WaitlistRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        entry_cols!(),
        " FROM waitlist_entries WHERE id = $1"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(id).fetch_optional(c).await)?)
}

/// Reads an entry for a change, locking it on PostgreSQL.
pub async fn entry_for_update(tx: &mut Tx, id: i64) -> StoreResult<Option<WaitlistRow>> {
    Ok(locked!(
        tx,
        concat!(
            "SELECT ",
            entry_cols!(),
            " FROM waitlist_entries WHERE id = $1"
        ),
        "FOR UPDATE",
        |c, SQL| sqlx::query_as(SQL).bind(id).fetch_optional(c).await
    )?)
}

pub async fn entries_of_user(tx: &mut Tx, user_id: i64) -> StoreResult<Vec<WaitlistRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        entry_cols!(),
        " FROM waitlist_entries WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(user_id).fetch_all(c).await)?)
}

/// This person's open entry (by account or email) for that tour and date, if any.
pub async fn open_entry(
    tx: &mut Tx,
    tour_id: i64,
    date: NaiveDate,
    user_id: Option<i64>,
    email_lower: &str,
) -> StoreResult<Option<WaitlistRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        entry_cols!(),
        " FROM waitlist_entries WHERE tour_id = $1 AND requested_date = $2 \
         AND status IN ('active', 'notified') AND ((user_id IS NOT NULL AND user_id = $3) OR LOWER(customer_email) = $4) \
         ORDER BY id LIMIT 1"
    );
    Ok(
        on!(tx, c => sqlx::query_as(SQL).bind(tour_id).bind(date).bind(user_id).bind(email_lower).fetch_optional(c).await)?,
    )
}

/// The first active entry that can use `free` spots on a slot: slot-specific
/// or date-wide for its tour and date, by priority (higher first) then age,
/// locked. Locked rows are waited for, never skipped: skipping would pass
/// over a higher-priority entry another request merely holds. (The caller
/// holds the slot's lock, so processors of one slot already queue.)
pub async fn next_candidate(
    tx: &mut Tx,
    tour_id: i64,
    date: NaiveDate,
    slot_id: i64,
    free: i64,
) -> StoreResult<Option<WaitlistRow>> {
    Ok(locked!(
        tx,
        concat!(
            "SELECT ",
            entry_cols!(),
            " FROM waitlist_entries WHERE tour_id = $1 AND requested_date = $2 AND status = 'active' \
             AND (booking_slot_id IS NULL OR booking_slot_id = $3) AND num_people <= $4 \
             ORDER BY priority DESC, created_at, id LIMIT 1"
        ),
        "FOR UPDATE",
        |c, SQL| sqlx::query_as(SQL)
            .bind(tour_id)
            .bind(date)
            .bind(slot_id)
            .bind(free)
            .fetch_optional(c)
            .await
    )?)
}

/// Marks an active entry notified with spots held on `slot_id`.
pub async fn mark_notified(
    tx: &mut Tx,
    id: i64,
    slot_id: i64,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> StoreResult<bool> {
    const SQL: &str = "UPDATE waitlist_entries SET status = 'notified', held_slot_id = $2, notified_at = $3, \
         notification_expires_at = $4, updated_at = $3 WHERE id = $1 AND status = 'active'";
    Ok(exec!(
        tx,
        sqlx::query(SQL)
            .bind(id)
            .bind(slot_id)
            .bind(now)
            .bind(expires_at)
    )? == 1)
}

/// Moves an entry from `from` to `to` (cancelled or expired), clearing its hold.
pub async fn set_status(
    tx: &mut Tx,
    id: i64,
    from: WaitlistStatus,
    to: WaitlistStatus,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    const SQL: &str = "UPDATE waitlist_entries SET status = $3, held_slot_id = NULL, updated_at = $4 \
         WHERE id = $1 AND status = $2";
    Ok(exec!(
        tx,
        sqlx::query(SQL)
            .bind(id)
            .bind(from.as_str())
            .bind(to.as_str())
            .bind(now)
    )? == 1)
}

pub async fn mark_converted(
    tx: &mut Tx,
    id: i64,
    booking_id: i64,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    const SQL: &str = "UPDATE waitlist_entries SET status = 'converted', held_slot_id = NULL, converted_at = $3, \
         booking_id = $2, updated_at = $3 WHERE id = $1 AND status = 'notified'";
    Ok(exec!(tx, sqlx::query(SQL).bind(id).bind(booking_id).bind(now))? == 1)
}

/// Notified entries whose claim window has passed, oldest first (not
/// locked: the expiry job locks each entry's departure, then the entry).
pub async fn expired_notifications(
    tx: &mut Tx,
    now: DateTime<Utc>,
    limit: i64,
) -> StoreResult<Vec<WaitlistRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        entry_cols!(),
        " FROM waitlist_entries WHERE status = 'notified' AND notification_expires_at <= $1 \
         ORDER BY notification_expires_at, id LIMIT $2"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(now).bind(limit).fetch_all(c).await)?)
}

/// Puts a notified entry back in the queue with its place (priority and
/// age unchanged): its departure was cancelled before it could claim.
pub async fn requeue(tx: &mut Tx, id: i64, now: DateTime<Utc>) -> StoreResult<bool> {
    const SQL: &str = "UPDATE waitlist_entries SET status = 'active', held_slot_id = NULL, notified_at = NULL, \
         notification_expires_at = NULL, updated_at = $2 WHERE id = $1 AND status = 'notified'";
    Ok(exec!(tx, sqlx::query(SQL).bind(id).bind(now))? == 1)
}

/// Entries tied to a slot, locked in id order: notified ones holding spots
/// on it, and active ones that asked for exactly it.
pub async fn lock_entries_bound_to_slot(
    tx: &mut Tx,
    slot_id: i64,
) -> StoreResult<Vec<WaitlistRow>> {
    Ok(locked!(
        tx,
        concat!(
            "SELECT ",
            entry_cols!(),
            " FROM waitlist_entries WHERE (status = 'notified' AND held_slot_id = $1) \
             OR (status = 'active' AND booking_slot_id = $1) ORDER BY id"
        ),
        "FOR UPDATE",
        |c, SQL| sqlx::query_as(SQL).bind(slot_id).fetch_all(c).await
    )?)
}

/// The admin's view, by priority then age.
pub async fn list_entries(
    tx: &mut Tx,
    tour_id: Option<i64>,
    date: Option<NaiveDate>,
    status: Option<WaitlistStatus>,
    limit: i64,
) -> StoreResult<Vec<WaitlistRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        entry_cols!(),
        " FROM waitlist_entries WHERE ($1 IS NULL OR tour_id = $1) AND ($2 IS NULL OR requested_date = $2) \
         AND ($3 IS NULL OR status = $3) ORDER BY requested_date, priority DESC, created_at, id LIMIT $4"
    );
    Ok(
        on!(tx, c => sqlx::query_as(SQL).bind(tour_id).bind(date).bind(status.map(WaitlistStatus::as_str)).bind(limit).fetch_all(c).await)?,
    )
}

pub async fn set_priority(
    tx: &mut Tx,
    id: i64,
    priority: i64,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    const SQL: &str = "UPDATE waitlist_entries SET priority = $2, updated_at = $3 WHERE id = $1";
    Ok(exec!(tx, sqlx::query(SQL).bind(id).bind(priority).bind(now))? == 1)
}
