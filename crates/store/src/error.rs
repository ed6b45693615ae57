//! The store's one error type. Constraint violations are classified so the
//! service layer can turn them into client errors without parsing messages.

use sqlx::error::ErrorKind;

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A UNIQUE constraint refused the write; carries the constraint's
    /// name as PostgreSQL reports it, on both engines (see
    /// [`unique_constraint_name`]), so callers match a name from
    /// [`constraint`], never a message.
    #[error("unique constraint violated: {0}")]
    Unique(String),
    /// A CHECK constraint refused the write (for example slot capacity).
    #[error("check constraint violated: {0}")]
    Check(String),
    /// A foreign key pointed at a missing row.
    #[error("foreign key violated: {0}")]
    ForeignKey(String),
    /// Two transactions got in each other's way (deadlock, serialization
    /// failure, lock timeout, a busy SQLite file): trying again can succeed.
    #[error("transient database conflict: {0}")]
    Transient(#[source] sqlx::Error),
    /// The database cannot be reached, has no connection free, or its
    /// storage refuses writes (read-only, I/O error, the file deleted or
    /// replaced under the server): an outage, not a bug.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The disk holding the database is full: nothing was written.
    #[error("the database's disk is full: {0}")]
    StorageFull(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Config(String),
}

/// Worth another try: PostgreSQL's deadlock_detected,
/// serialization_failure and lock_not_available; SQLite's BUSY and LOCKED
/// (primary result codes 5 and 6, also as extended codes).
fn is_transient(db: &dyn sqlx::error::DatabaseError, code: &str) -> bool {
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return code.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6));
    }
    matches!(code, "40P01" | "40001" | "55P03")
}

/// The environment's fault rather than a bug. SQLite: NOMEM (7), READONLY
/// (8), IOERR (10), CORRUPT (11), CANTOPEN (14), NOTADB (26). PostgreSQL: a
/// lost or refused connection (class 08), an administrator's shutdown or a
/// crash (57P01..57P03), insufficient resources (class 53: too many
/// connections, out of memory), a system or I/O error (class 58), a
/// read-only server (25006, e.g. a standby).
fn is_unavailable(db: &dyn sqlx::error::DatabaseError, code: &str) -> bool {
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return code
            .parse::<u32>()
            .is_ok_and(|n| matches!(n & 0xff, 7 | 8 | 10 | 11 | 14 | 26));
    }
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("58")
        || matches!(code, "57P01" | "57P02" | "57P03" | "25006")
}

/// SQLite's FULL (13); PostgreSQL's disk_full (53100).
fn is_storage_full(db: &dyn sqlx::error::DatabaseError, code: &str) -> bool {
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return code.parse::<u32>().is_ok_and(|n| n & 0xff == 13);
    }
    code == "53100"
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => return StoreError::Unavailable(err.to_string()),
            _ => {}
        }
        if let Some(db) = err.as_database_error() {
            if let Some(code) = db.code() {
                if is_transient(db, &code) {
                    return StoreError::Transient(err);
                }
                if is_storage_full(db, &code) {
                    return StoreError::StorageFull(db.message().to_owned());
                }
                if is_unavailable(db, &code) {
                    return StoreError::Unavailable(err.to_string());
                }
            }
            if db.kind() == ErrorKind::UniqueViolation {
                return StoreError::Unique(
                    db.constraint()
                        .map(str::to_owned)
                        .unwrap_or_else(|| unique_constraint_name(db.message())),
                );
            }
            let what = db
                .constraint()
                .map(str::to_owned)
                .unwrap_or_else(|| db.message().to_owned());
            match db.kind() {
                ErrorKind::CheckViolation => return StoreError::Check(what),
                ErrorKind::ForeignKeyViolation => return StoreError::ForeignKey(what),
                _ => {}
            }
        }
        StoreError::Database(err)
    }
}

/// The unique constraints a caller answers for, by the name PostgreSQL
/// gives them (the migrations name the indexes; a column's `UNIQUE` is
/// named `{table}_{column}_key`).
pub mod constraint {
    /// One account per email (`users.email_lower`).
    pub const USER_EMAIL: &str = "users_email_lower_key";
    /// One open waitlist entry per person, tour and date.
    pub const OPEN_WAITLIST_ENTRY: &str = "uq_waitlist_open_entry";
    /// One departure per schedule and date.
    pub const SLOT_SCHEDULE_DATE: &str = "uq_slot_schedule_date";
    /// Booking references are unique.
    pub const BOOKING_REFERENCE: &str = "uq_bookings_reference";
}

/// Unique indexes over plain columns that the migrations name: SQLite
/// reports such a violation by its columns, not its name.
const NAMED_UNIQUE_INDEXES: &[(&str, &str)] = &[
    (
        "booking_slots.schedule_id, booking_slots.slot_date",
        constraint::SLOT_SCHEDULE_DATE,
    ),
    ("bookings.booking_reference", constraint::BOOKING_REFERENCE),
];

/// The PostgreSQL name of the constraint a SQLite unique violation names.
/// SQLite says `UNIQUE constraint failed: index 'name'` for an index over
/// expressions and `UNIQUE constraint failed: t.a, t.b` otherwise; the
/// latter is a named index from [`NAMED_UNIQUE_INDEXES`] or a table
/// constraint, which PostgreSQL names `t_a_b_key`.
fn unique_constraint_name(message: &str) -> String {
    let what = message
        .strip_prefix("UNIQUE constraint failed: ")
        .unwrap_or(message);
    if let Some(name) = what
        .strip_prefix("index '")
        .and_then(|rest| rest.strip_suffix('\''))
    {
        return name.to_owned();
    }
    if let Some((_, name)) = NAMED_UNIQUE_INDEXES.iter().find(|(cols, _)| *cols == what) {
        return (*name).to_owned();
    }
    let mut table = None;
    let mut columns = Vec::new();
    for qualified in what.split(", ") {
        match qualified.split_once('.') {
            Some((t, c)) if table.is_none_or(|seen| seen == t) => {
                table = Some(t);
                columns.push(c);
            }
            _ => return what.to_owned(),
        }
    }
    match table {
        Some(t) => format!("{t}_{}_key", columns.join("_")),
        None => what.to_owned(),
    }
}

impl StoreError {
    /// True when the unique constraint named `name` (one of
    /// [`constraint`]) refused the write.
    pub fn is_unique(&self, name: &str) -> bool {
        matches!(self, StoreError::Unique(what) if what == name)
    }
}

#[cfg(test)]
mod tests {
    use super::unique_constraint_name;

    #[test]
    fn sqlite_unique_messages_are_named_as_postgresql_names_them() {
        for (message, name) in [
            (
                "UNIQUE constraint failed: users.email_lower",
                "users_email_lower_key",
            ),
            (
                "UNIQUE constraint failed: index 'uq_waitlist_open_entry'",
                "uq_waitlist_open_entry",
            ),
            (
                "UNIQUE constraint failed: booking_slots.schedule_id, booking_slots.slot_date",
                "uq_slot_schedule_date",
            ),
            (
                "UNIQUE constraint failed: idempotency_keys.scope, idempotency_keys.idem_key",
                "idempotency_keys_scope_idem_key_key",
            ),
            ("something else", "something else"),
        ] {
            assert_eq!(unique_constraint_name(message), name, "{message}");
        }
    }
}
