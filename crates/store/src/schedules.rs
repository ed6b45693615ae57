//! Tour schedules: the recurring timetables slots are generated from.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use tourdesk_domain::schedule::Weekdays;

use crate::{StoreResult, Tx, exec, on};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScheduleRow {
    pub id: i64,
    pub tour_id: i64,
    pub name: String,
    pub start_time: NaiveTime,
    pub duration_minutes: i64,
    pub recurrence: String,
    pub rrule: Option<String>,
    /// The `monday` … `sunday` columns.
    #[sqlx(flatten)]
    pub days: Weekdays,
    pub max_capacity: i64,
    pub min_capacity: i64,
    pub valid_from: NaiveDate,
    pub valid_until: Option<NaiveDate>,
    pub price_override: Option<i64>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    /// Hours before each departure its minimum is decided (0015).
    pub decision_hours: i64,
}

macro_rules! schedule_cols {
    () => {
        "id, tour_id, name, start_time, duration_minutes, recurrence, rrule, monday, tuesday, wednesday, \
         thursday, friday, saturday, sunday, max_capacity, min_capacity, valid_from, valid_until, \
         price_override, is_active, created_at, decision_hours"
    };
}

pub struct ScheduleFields<'a> {
    pub tour_id: i64,
    pub name: &'a str,
    pub start_time: NaiveTime,
    pub duration_minutes: i64,
    pub recurrence: &'a str,
    pub rrule: Option<&'a str>,
    pub weekdays: Weekdays,
    pub max_capacity: i64,
    pub min_capacity: i64,
    pub valid_from: NaiveDate,
    pub valid_until: Option<NaiveDate>,
    pub price_override: Option<i64>,
    pub is_active: bool,
    pub decision_hours: i64,
}

pub async fn insert_schedule(
    tx: &mut Tx,
    s: &ScheduleFields<'_>,
    now: DateTime<Utc>,
) -> StoreResult<ScheduleRow> {
    const SQL: &str = concat!(
        "INSERT INTO tour_schedules (tour_id, name, start_time, duration_minutes, recurrence, rrule, monday, tuesday, \
         wednesday, thursday, friday, saturday, sunday, max_capacity, min_capacity, valid_from, valid_until, \
         price_override, is_active, created_at, updated_at, decision_hours) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20, $21) RETURNING ",
        schedule_cols!()
    );
    let w = s.weekdays.flags();
    Ok(on!(tx, c => sqlx::query_as(SQL)
        .bind(s.tour_id).bind(s.name).bind(s.start_time).bind(s.duration_minutes).bind(s.recurrence).bind(s.rrule)
        .bind(w[0]).bind(w[1]).bind(w[2]).bind(w[3]).bind(w[4]).bind(w[5]).bind(w[6])
        .bind(s.max_capacity).bind(s.min_capacity).bind(s.valid_from).bind(s.valid_until)
        .bind(s.price_override).bind(s.is_active).bind(now).bind(s.decision_hours)
        .fetch_one(c).await)?)
}

/// Overwrites a schedule (its tour stays); false when there is none.
pub async fn update_schedule(
    tx: &mut Tx,
    id: i64,
    s: &ScheduleFields<'_>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    const SQL: &str = "UPDATE tour_schedules SET name = $2, start_time = $3, duration_minutes = $4, recurrence = $5, \
         rrule = $6, monday = $7, tuesday = $8, wednesday = $9, thursday = $10, friday = $11, saturday = $12, \
         sunday = $13, max_capacity = $14, min_capacity = $15, valid_from = $16, valid_until = $17, \
         price_override = $18, is_active = $19, updated_at = $20, decision_hours = $21 WHERE id = $1";
    let w = s.weekdays.flags();
    let n = exec!(
        tx,
        sqlx::query(SQL)
            .bind(id)
            .bind(s.name)
            .bind(s.start_time)
            .bind(s.duration_minutes)
            .bind(s.recurrence)
            .bind(s.rrule)
            .bind(w[0])
            .bind(w[1])
            .bind(w[2])
            .bind(w[3])
            .bind(w[4])
            .bind(w[5])
            .bind(w[6])
            .bind(s.max_capacity)
            .bind(s.min_capacity)
            .bind(s.valid_from)
            .bind(s.valid_until)
            .bind(s.price_override)
            .bind(s.is_active)
            .bind(now)
            .bind(s.decision_hours)
    )?;
    Ok(n > 0)
}

/// Reads a schedule and locks its row (an edit: concurrent edits of one
/// schedule queue instead of overwriting each other).
pub async fn lock_schedule(tx: &mut Tx, id: i64) -> StoreResult<Option<ScheduleRow>> {
    Ok(crate::locked!(
        tx,
        concat!(
            "SELECT ",
            schedule_cols!(),
            " FROM tour_schedules WHERE id = $1"
        ),
        "FOR UPDATE",
        |c, SQL| sqlx::query_as(SQL).bind(id).fetch_optional(c).await
    )?)
}

pub async fn schedule_by_id(tx: &mut Tx, id: i64) -> StoreResult<Option<ScheduleRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        schedule_cols!(),
        " FROM tour_schedules WHERE id = $1"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(id).fetch_optional(c).await)?)
}

/// Schedules of one tour, or of every tour.
pub async fn list_schedules(tx: &mut Tx, tour_id: Option<i64>) -> StoreResult<Vec<ScheduleRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        schedule_cols!(),
        " FROM tour_schedules WHERE ($1 IS NULL OR tour_id = $1) ORDER BY tour_id, start_time, id"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(tour_id).fetch_all(c).await)?)
}

/// Active schedules of active tours (the rolling horizon's work list).
pub async fn active_schedules(tx: &mut Tx) -> StoreResult<Vec<ScheduleRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        schedule_cols!(),
        " FROM tour_schedules WHERE is_active AND tour_id IN (SELECT id FROM tours WHERE is_active) ORDER BY id"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).fetch_all(c).await)?)
}

pub async fn set_schedule_active(
    tx: &mut Tx,
    id: i64,
    active: bool,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    const SQL: &str = "UPDATE tour_schedules SET is_active = $2, updated_at = $3 WHERE id = $1";
    Ok(exec!(tx, sqlx::query(SQL).bind(id).bind(active).bind(now))? > 0)
}
