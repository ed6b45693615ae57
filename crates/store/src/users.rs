//! Users and their bearer tokens.

use chrono::{DateTime, Utc};

use crate::{StoreResult, Tx, exec, on};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub role: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub email_lower: &'a str,
    pub name: &'a str,
    pub phone: Option<&'a str>,
    pub role: &'a str,
    pub password_hash: &'a str,
}

/// Inserts a user; a taken email fails with `StoreError::Unique`.
pub async fn insert_user(tx: &mut Tx, u: &NewUser<'_>, now: DateTime<Utc>) -> StoreResult<UserRow> {
    const SQL: &str = "INSERT INTO users (email, email_lower, name, phone, role, password_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
         RETURNING id, email, name, phone, role, password_hash, created_at";
    Ok(on!(tx, c => sqlx::query_as(SQL)
        .bind(u.email).bind(u.email_lower).bind(u.name).bind(u.phone)
        .bind(u.role).bind(u.password_hash).bind(now)
        .fetch_one(c).await)?)
}

pub async fn user_by_email(tx: &mut Tx, email_lower: &str) -> StoreResult<Option<UserRow>> {
    const SQL: &str = "SELECT id, email, name, phone, role, password_hash, created_at FROM users WHERE email_lower = $1";
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(email_lower).fetch_optional(c).await)?)
}

pub async fn user_by_id(tx: &mut Tx, id: i64) -> StoreResult<Option<UserRow>> {
    const SQL: &str =
        "SELECT id, email, name, phone, role, password_hash, created_at FROM users WHERE id = $1";
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(id).fetch_optional(c).await)?)
}

/// Sets a user's role, and their password hash when given.
pub async fn update_user_access(
    tx: &mut Tx,
    id: i64,
    role: &str,
    password_hash: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    const SQL: &str = "UPDATE users SET role = $2, password_hash = COALESCE($3, password_hash), updated_at = $4 WHERE id = $1";
    exec!(
        tx,
        sqlx::query(SQL)
            .bind(id)
            .bind(role)
            .bind(password_hash)
            .bind(now)
    )?;
    Ok(())
}

pub async fn insert_token(
    tx: &mut Tx,
    user_id: i64,
    token_hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO auth_tokens (user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)";
    exec!(
        tx,
        sqlx::query(SQL)
            .bind(user_id)
            .bind(token_hash)
            .bind(now)
            .bind(expires_at)
    )?;
    Ok(())
}

/// The user a live (unexpired, unrevoked) token belongs to.
pub async fn user_by_token(
    tx: &mut Tx,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<UserRow>> {
    const SQL: &str = "SELECT u.id, u.email, u.name, u.phone, u.role, u.password_hash, u.created_at \
         FROM auth_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2";
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(token_hash).bind(now).fetch_optional(c).await)?)
}

/// Revokes a live token; false when there was none to revoke.
pub async fn revoke_token(tx: &mut Tx, token_hash: &str, now: DateTime<Utc>) -> StoreResult<bool> {
    const SQL: &str =
        "UPDATE auth_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL";
    let done = exec!(tx, sqlx::query(SQL).bind(token_hash).bind(now))?;
    Ok(done > 0)
}

/// Revokes every live token of a user ("log out everywhere"); returns how many.
pub async fn revoke_user_tokens(tx: &mut Tx, user_id: i64, now: DateTime<Utc>) -> StoreResult<u64> {
    const SQL: &str =
        "UPDATE auth_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";
    let done = exec!(tx, sqlx::query(SQL).bind(user_id).bind(now))?;
    Ok(done)
}
