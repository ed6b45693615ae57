//! Tours: what an operator sells.

use chrono::{DateTime, Utc};

use crate::{StoreResult, Tx, exec, on};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TourRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub duration_minutes: i64,
    pub base_price: i64,
    pub currency: String,
    pub timezone: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    /// JSON; None: the configuration's default (0014).
    pub cancellation_policy: Option<String>,
    /// JSON; None: the configuration's default (0014).
    pub party_rules: Option<String>,
}

macro_rules! tour_cols {
    () => {
        "id, name, description, duration_minutes, base_price, currency, timezone, is_active, created_at, \
         cancellation_policy, party_rules"
    };
}

pub struct TourFields<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub duration_minutes: i64,
    pub base_price: i64,
    pub currency: &'a str,
    pub timezone: &'a str,
    pub is_active: bool,
    pub cancellation_policy: Option<&'a str>,
    pub party_rules: Option<&'a str>,
}

pub async fn insert_tour(
    tx: &mut Tx,
    t: &TourFields<'_>,
    now: DateTime<Utc>,
) -> StoreResult<TourRow> {
    const SQL: &str = concat!(
        "INSERT INTO tours (name, description, duration_minutes, base_price, currency, timezone, is_active, created_at, updated_at, \
         cancellation_policy, party_rules) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10) RETURNING ",
        tour_cols!()
    );
    Ok(on!(tx, c => sqlx::query_as(SQL)
        .bind(t.name).bind(t.description).bind(t.duration_minutes).bind(t.base_price)
        .bind(t.currency).bind(t.timezone).bind(t.is_active).bind(now)
        .bind(t.cancellation_policy).bind(t.party_rules)
        .fetch_one(c).await)?)
}

/// Overwrites a tour's fields; false when there is no such tour.
pub async fn update_tour(
    tx: &mut Tx,
    id: i64,
    t: &TourFields<'_>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    const SQL: &str = "UPDATE tours SET name = $2, description = $3, duration_minutes = $4, base_price = $5, \
         currency = $6, timezone = $7, is_active = $8, updated_at = $9, cancellation_policy = $10, party_rules = $11 \
         WHERE id = $1";
    let n = exec!(
        tx,
        sqlx::query(SQL)
            .bind(id)
            .bind(t.name)
            .bind(t.description)
            .bind(t.duration_minutes)
            .bind(t.base_price)
            .bind(t.currency)
            .bind(t.timezone)
            .bind(t.is_active)
            .bind(now)
            .bind(t.cancellation_policy)
            .bind(t.party_rules)
    )?;
    Ok(n > 0)
}

pub async fn tour_by_id(tx: &mut Tx, id: i64) -> StoreResult<Option<TourRow>> {
    const SQL: &str = concat!("SELECT ", tour_cols!(), " FROM tours WHERE id = $1");
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(id).fetch_optional(c).await)?)
}

/// Tours by id, in id order (those that exist).
pub async fn tours_by_ids(tx: &mut Tx, ids: &[i64]) -> StoreResult<Vec<TourRow>> {
    crate::rows_for_ids!(
        tx,
        concat!("SELECT ", tour_cols!(), " FROM tours WHERE id IN ("),
        ids,
        ") ORDER BY id"
    )
}

/// Every tour (or only active ones), by name.
pub async fn list_tours(tx: &mut Tx, active_only: bool) -> StoreResult<Vec<TourRow>> {
    const SQL: &str = concat!(
        "SELECT ",
        tour_cols!(),
        " FROM tours WHERE is_active OR NOT $1 ORDER BY name, id"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(active_only).fetch_all(c).await)?)
}

pub async fn count_tours(tx: &mut Tx) -> StoreResult<i64> {
    Ok(on!(tx, c => sqlx::query_scalar("SELECT COUNT(*) FROM tours").fetch_one(c).await)?)
}
