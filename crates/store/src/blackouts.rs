//! Blackout dates: days a tour (or every tour) does not run.

use chrono::{DateTime, NaiveDate, Utc};

use crate::{StoreResult, Tx, exec, on};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BlackoutRow {
    pub id: i64,
    pub tour_id: Option<i64>,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub blackout_type: String,
    pub name: String,
    pub description: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

macro_rules! blackout_cols {
    () => {
        "id, tour_id, start_date, end_date, blackout_type, name, description, is_active, created_at"
    };
}

pub struct BlackoutFields<'a> {
    pub tour_id: Option<i64>,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub blackout_type: &'a str,
    pub name: &'a str,
    pub description: &'a str,
}

pub async fn insert_blackout(
    tx: &mut Tx,
    b: &BlackoutFields<'_>,
    now: DateTime<Utc>,
) -> StoreResult<BlackoutRow> {
    const SQL: &str = concat!(
        "INSERT INTO blackout_dates (tour_id, start_date, end_date, blackout_type, name, description, is_active, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7) RETURNING ",
        blackout_cols!()
    );
    Ok(on!(tx, c => sqlx::query_as(SQL)
        .bind(b.tour_id).bind(b.start_date).bind(b.end_date).bind(b.blackout_type)
        .bind(b.name).bind(b.description).bind(now)
        .fetch_one(c).await)?)
}

pub async fn blackout_by_id(tx: &mut Tx, id: i64) -> StoreResult<Option<BlackoutRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        blackout_cols!(),
        " FROM blackout_dates WHERE id = $1"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(id).fetch_optional(c).await)?)
}

/// Blackouts that apply to `tour_id` (its own and global ones), or all of
/// them when `tour_id` is None; active ones only unless `include_inactive`.
pub async fn list_blackouts(
    tx: &mut Tx,
    tour_id: Option<i64>,
    include_inactive: bool,
) -> StoreResult<Vec<BlackoutRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        blackout_cols!(),
        " FROM blackout_dates WHERE ($1 IS NULL OR tour_id IS NULL OR tour_id = $1) AND (is_active OR $2) \
         ORDER BY start_date, id"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(tour_id).bind(include_inactive).fetch_all(c).await)?)
}

/// Active blackouts of `tour_id` (or global) overlapping `from..=to`.
pub async fn active_blackouts_between(
    tx: &mut Tx,
    tour_id: i64,
    from: NaiveDate,
    to: NaiveDate,
) -> StoreResult<Vec<BlackoutRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        blackout_cols!(),
        " FROM blackout_dates WHERE is_active AND (tour_id IS NULL OR tour_id = $1) \
         AND start_date <= $3 AND end_date >= $2 ORDER BY start_date, id"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(tour_id).bind(from).bind(to).fetch_all(c).await)?)
}

pub async fn deactivate_blackout(tx: &mut Tx, id: i64) -> StoreResult<bool> {
    const SQL: &str = "UPDATE blackout_dates SET is_active = FALSE WHERE id = $1 AND is_active";
    Ok(exec!(tx, sqlx::query(SQL).bind(id))? > 0)
}
